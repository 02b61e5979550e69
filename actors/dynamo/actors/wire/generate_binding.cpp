#include "dynamo/actors/wire/generate_binding.hpp"

#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/wire/generate_codec.hpp"
#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"

#include <caf/make_message.hpp>

#include <utility>

// Generated Server classes have no virtual destructor; kj::heap's disposer deletes the exact
// type, so GCC's -Wnon-virtual-dtor does not apply.
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

namespace dynamo::actors::wire {

namespace {

using chunk_codec = capnp::sink_codec<token_chunk, schema::TokenSink>;

/// Folds `next` into a chunk still waiting for flow control: tokens concatenate, the latest
/// finish reason and prompt counts win. Nothing merges into a finished chunk.
bool merge_chunks(token_chunk& pending, token_chunk& next) {
  if (pending.finish != engine::finish_reason::none)
    return false;
  pending.tokens.insert(pending.tokens.end(), next.tokens.begin(), next.tokens.end());
  pending.finish = next.finish;
  pending.prompt_tokens = next.prompt_tokens;
  pending.cached_prompt_tokens = next.cached_prompt_tokens;
  return true;
}

std::shared_ptr<const chunk_codec> make_codec() {
  auto codec = std::make_shared<chunk_codec>();
  codec->encode = [](const token_chunk& x, schema::TokenSink::ItemParams::Builder out) {
    encode(x, out.initChunk());
  };
  codec->decode = [](schema::TokenSink::ItemParams::Reader in) { return decode(in.getChunk()); };
  codec->merge = merge_chunks;
  return codec;
}

class generate_server final : public schema::Generate::Server {
public:
  generate_server(std::shared_ptr<capnp::endpoint_host> host,
                  std::shared_ptr<const chunk_codec> codec)
    : host_(std::move(host)), codec_(std::move(codec)) {
  }

protected:
  kj::Promise<void> generate(GenerateContext context) override {
    context.allowCancellation();
    auto params = context.getParams();
    auto req = decode(params.getRequest());
    if (!req) {
      capnp::encode_error(req.error(), context.getResults().initResult().initError());
      return kj::READY_NOW;
    }
    auto rid = req->id;
    auto relayed = host_->relay<token_chunk, schema::TokenSink>(rid, params.getSink(), codec_);
    auto reply = host_->ask<generate_summary>(
      caf::make_message(generate_atom::value, std::move(*req), relayed.sink), rid);
    return reply.then([context, done = kj::mv(relayed.done)](
                        caf::expected<generate_summary> summary) mutable -> kj::Promise<void> {
      if (!summary) {
        // The caller fails its stream with this error if the stream is still open.
        capnp::encode_error(summary.error(), context.getResults().initResult().initError());
        return kj::READY_NOW;
      }
      // The summary follows the stream's end, as in-process.
      return done.then([context, s = *summary]() mutable {
        encode(s, context.getResults().initResult().initSummary());
      });
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
  std::shared_ptr<const chunk_codec> codec_;
};

caf::expected<caf::message> no_reply() {
  return caf::message{};
}

class binding final : public capnp::interface_binding {
public:
  binding() : codec_(make_codec()) {
  }

  std::string_view interface_name() const noexcept override {
    return generate_interface_name;
  }

  ::capnp::Capability::Client serve(std::shared_ptr<capnp::endpoint_host> host) const override {
    return kj::heap<generate_server>(std::move(host), codec_);
  }

  kj::Promise<caf::expected<caf::message>> call(capnp::outgoing_call& out,
                                                ::capnp::Capability::Client target,
                                                caf::message msg) const override {
    auto cap = target.castAs<schema::Generate>();
    if (msg.match_elements<generate_atom, generate_request, token_sink_actor>()) {
      const auto& req = msg.get_as<generate_request>(1);
      auto call = cap.generateRequest();
      encode(req, call.initRequest());
      call.setSink(out.attach_sink<schema::TokenSink>(req.id, msg.get_as<token_sink_actor>(2),
                                                      codec_));
      out.set_deadline(req.deadline_unix_ms);
      return call.send().then([](auto&& response) -> caf::expected<caf::message> {
        auto result = response.getResult();
        if (result.isError())
          return capnp::decode_error(result.getError());
        auto summary = decode(result.getSummary());
        if (!summary)
          return std::move(summary.error());
        return caf::make_message(std::move(*summary));
      });
    }
    if (msg.match_elements<cancel_atom, request_id, cancel_kind>()) {
      auto call = cap.cancelRequest();
      call.setRequestId(msg.get_as<request_id>(1));
      call.setKind(static_cast<schema::CancelKind>(msg.get_as<cancel_kind>(2)));
      return call.send().then([](auto&&) { return no_reply(); });
    }
    return caf::expected<caf::message>{make_error(errc::invalid_request,
                                                  "the generate interface has no such message",
                                                  caf::to_string(msg))};
  }

private:
  std::shared_ptr<const chunk_codec> codec_;
};

} // namespace

std::shared_ptr<const dynamo::capnp::interface_binding> generate_binding() {
  return std::make_shared<binding>();
}

} // namespace dynamo::actors::wire
