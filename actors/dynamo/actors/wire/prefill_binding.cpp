#include "dynamo/actors/wire/prefill_binding.hpp"

#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"

#include <caf/make_message.hpp>

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

// Generated Server classes have no virtual destructor; kj::heap's disposer deletes the exact
// type, so GCC's -Wnon-virtual-dtor does not apply.
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

namespace dynamo::actors::wire {

namespace {

/// Longest component name accepted from the wire.
constexpr size_t max_component_bytes = 256;

caf::expected<caf::message> decode_reply(schema::PrefillResult::Reader in) {
  return capnp::decode_guarded("prefill result", [&in]() -> caf::expected<caf::message> {
    switch (in.which()) {
      case schema::PrefillResult::RESULT: {
        auto result = decode(in.getResult());
        if (!result)
          return std::move(result.error());
        return caf::make_message(std::move(*result));
      }
      case schema::PrefillResult::ERROR:
        return capnp::decode_error(in.getError());
    }
    return make_error(errc::invalid_request, "malformed prefill result",
                      "unknown variant of PrefillResult (a newer peer?)");
  });
}

class prefill_server final : public schema::Prefill::Server {
public:
  explicit prefill_server(std::shared_ptr<capnp::endpoint_host> host) : host_(std::move(host)) {
  }

protected:
  kj::Promise<void> prefill(PrefillContext context) override {
    context.allowCancellation();
    auto req = decode(context.getParams().getRequest());
    if (!req) {
      capnp::encode_error(req.error(), context.getResults().initResult().initError());
      return kj::READY_NOW;
    }
    auto rid = req->request.id;
    auto reply = host_->ask<remote_prefill_result>(
      caf::make_message(prefill_atom::value, std::move(*req)), rid);
    return reply.then([context](caf::expected<remote_prefill_result> result) mutable {
      auto out = context.getResults().initResult();
      if (!result)
        capnp::encode_error(result.error(), out.initError());
      else
        encode(*result, out.initResult());
    });
  }

  kj::Promise<void> cancel(CancelContext context) override {
    auto params = context.getParams();
    auto kind = static_cast<uint16_t>(params.getKind());
    if (kind != static_cast<uint16_t>(cancel_kind::stop_generating)
        && kind != static_cast<uint16_t>(cancel_kind::kill))
      return KJ_EXCEPTION(FAILED, "invalid cancel kind");
    host_->tell(caf::make_message(cancel_atom::value, params.getRequestId(),
                                  static_cast<cancel_kind>(kind)));
    return kj::READY_NOW;
  }

private:
  std::shared_ptr<capnp::endpoint_host> host_;
};

class binding final : public capnp::interface_binding {
public:
  std::string_view interface_name() const noexcept override {
    return prefill_interface_name;
  }

  ::capnp::Capability::Client serve(std::shared_ptr<capnp::endpoint_host> host) const override {
    return kj::heap<prefill_server>(std::move(host));
  }

  kj::Promise<caf::expected<caf::message>> call(capnp::outgoing_call& out,
                                                ::capnp::Capability::Client target,
                                                caf::message msg) const override {
    auto cap = target.castAs<schema::Prefill>();
    if (msg.match_elements<prefill_atom, remote_prefill_request>()) {
      const auto& req = msg.get_as<remote_prefill_request>(1);
      auto call = cap.prefillRequest();
      encode(req, call.initRequest());
      out.set_deadline(req.request.deadline_unix_ms);
      return call.send().then([](auto&& response) -> caf::expected<caf::message> {
        return decode_reply(response.getResult());
      });
    }
    if (msg.match_elements<cancel_atom, request_id, cancel_kind>()) {
      auto call = cap.cancelRequest();
      call.setRequestId(msg.get_as<request_id>(1));
      call.setKind(static_cast<schema::CancelKind>(msg.get_as<cancel_kind>(2)));
      return call.send().then([](auto&&) { return caf::expected<caf::message>{caf::message{}}; });
    }
    return caf::expected<caf::message>{make_error(errc::invalid_request,
                                                  "the prefill interface has no such message",
                                                  caf::to_string(msg))};
  }
};

} // namespace

void encode(const remote_prefill_request& x, schema::RemotePrefillRequest::Builder out) {
  encode(x.request, out.initRequest());
  out.setDecodeComponent(capnp::as_text(x.decode_component));
  out.setDecodeInstance(x.decode_instance);
  auto blocks = out.initBlocks(static_cast<unsigned>(x.blocks.size()));
  for (unsigned i = 0; i < x.blocks.size(); ++i)
    blocks.set(i, x.blocks[i]);
  out.setCachedTokens(x.cached_tokens);
}

void encode(const remote_prefill_result& x, schema::RemotePrefillResult::Builder out) {
  out.setFirstToken(x.first_token);
  out.setPrefillCachedTokens(x.prefill_cached_tokens);
  out.setBytes(x.bytes);
  out.setPrefillUs(x.prefill_us);
  out.setTransferUs(x.transfer_us);
  out.setPrefillWorker(x.prefill_worker);
  out.setQueueUs(x.queue_us);
}

caf::expected<remote_prefill_request> decode(schema::RemotePrefillRequest::Reader in,
                                             const wire_limits& limits) {
  return capnp::decode_guarded(
    "remote prefill request", [&in, &limits]() -> caf::expected<remote_prefill_request> {
      remote_prefill_request x;
      if (!in.hasRequest())
        return make_error(errc::invalid_request, "malformed remote prefill request",
                          "no generate request");
      auto request = decode(in.getRequest(), limits);
      if (!request)
        return std::move(request.error());
      x.request = std::move(*request);
      auto component =
        capnp::read_text(in.getDecodeComponent(), max_component_bytes, "decodeComponent");
      if (!component)
        return std::move(component.error());
      x.decode_component = std::move(*component);
      x.decode_instance = in.getDecodeInstance();
      auto blocks = in.getBlocks();
      if (blocks.size() > limits.max_tokens)
        return make_error(errc::invalid_request, "malformed remote prefill request",
                          fmt::format("{} blocks exceed the limit of {}", blocks.size(),
                                      limits.max_tokens));
      x.blocks.reserve(blocks.size());
      for (auto block : blocks)
        x.blocks.push_back(block);
      x.cached_tokens = in.getCachedTokens();
      return x;
    });
}

caf::expected<remote_prefill_result> decode(schema::RemotePrefillResult::Reader in) {
  return capnp::decode_guarded("remote prefill result",
                               [&in]() -> caf::expected<remote_prefill_result> {
                                 remote_prefill_result x;
                                 x.first_token = in.getFirstToken();
                                 x.prefill_cached_tokens = in.getPrefillCachedTokens();
                                 x.bytes = in.getBytes();
                                 x.prefill_us = in.getPrefillUs();
                                 x.transfer_us = in.getTransferUs();
                                 x.prefill_worker = in.getPrefillWorker();
                                 x.queue_us = in.getQueueUs();
                                 return x;
                               });
}

std::shared_ptr<const dynamo::capnp::interface_binding> prefill_binding() {
  return std::make_shared<binding>();
}

} // namespace dynamo::actors::wire
