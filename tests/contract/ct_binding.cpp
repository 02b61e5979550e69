#include "ct_binding.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/contract/requests_contract.hpp"
#include "tests/contract/ct.capnp.h"

#include <caf/make_message.hpp>

#include <string>

// Generated Server classes have no virtual destructor; kj::heap's disposer deletes the exact
// type, so GCC's -Wnon-virtual-dtor does not apply.
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

namespace dynamo::testing::contract {

namespace {

using string_codec = capnp::sink_codec<std::string, wire::StringSink>;

/// Longest text accepted from the wire.
constexpr size_t max_text = 1 << 20;

std::shared_ptr<const string_codec> make_codec(size_t max_pending) {
  auto codec = std::make_shared<string_codec>();
  codec->encode = [](const std::string& x, wire::StringSink::ItemParams::Builder out) {
    out.setItem(capnp::as_text(x));
  };
  codec->decode = [](wire::StringSink::ItemParams::Reader in) {
    return capnp::read_text(in.getItem(), max_text, "item");
  };
  codec->max_pending = max_pending;
  return codec;
}

class contract_server final : public wire::Contract::Server {
public:
  contract_server(std::shared_ptr<capnp::endpoint_host> host,
                  std::shared_ptr<const string_codec> codec)
    : host_(std::move(host)), codec_(std::move(codec)) {
  }

protected:
  kj::Promise<void> echo(EchoContext context) override {
    context.allowCancellation();
    auto text = capnp::decode_guarded("echo", [&context] {
      return capnp::read_text(context.getParams().getText(), max_text, "text");
    });
    if (!text) {
      capnp::encode_error(text.error(), context.getResults().initError());
      return kj::READY_NOW;
    }
    return host_->ask<std::string>(caf::make_message(ct_echo_atom::value, std::move(*text)),
                                   std::nullopt)
      .then([context](caf::expected<std::string> reply) mutable {
        auto results = context.getResults();
        if (reply)
          results.setText(capnp::as_text(*reply));
        else
          capnp::encode_error(reply.error(), results.initError());
      });
  }

  kj::Promise<void> call(CallContext context) override {
    context.allowCancellation();
    auto params = context.getParams();
    auto rid = params.getRequestId();
    auto relayed = host_->relay<std::string, wire::StringSink>(rid, params.getSink(), codec_);
    host_->tell(caf::make_message(ct_call_atom::value, rid, params.getN(), relayed.sink));
    return kj::mv(relayed.done);
  }

  kj::Promise<void> cancel(CancelContext context) override {
    auto params = context.getParams();
    auto kind = params.getKind();
    if (kind != static_cast<uint8_t>(cancel_kind::stop_generating)
        && kind != static_cast<uint8_t>(cancel_kind::kill))
      return KJ_EXCEPTION(FAILED, "invalid cancel kind");
    host_->tell(caf::make_message(cancel_atom::value, params.getRequestId(),
                                  static_cast<cancel_kind>(kind)));
    return kj::READY_NOW;
  }

private:
  std::shared_ptr<capnp::endpoint_host> host_;
  std::shared_ptr<const string_codec> codec_;
};

class contract_binding final : public capnp::interface_binding {
public:
  explicit contract_binding(size_t max_pending) : codec_(make_codec(max_pending)) {
  }

  std::string_view interface_name() const noexcept override {
    return ct_interface_name;
  }

  ::capnp::Capability::Client serve(std::shared_ptr<capnp::endpoint_host> host) const override {
    return kj::heap<contract_server>(std::move(host), codec_);
  }

  kj::Promise<caf::expected<caf::message>> call(capnp::outgoing_call& out,
                                                ::capnp::Capability::Client target,
                                                caf::message msg) const override {
    auto cap = target.castAs<wire::Contract>();
    if (msg.match_elements<ct_echo_atom, std::string>()) {
      auto req = cap.echoRequest();
      req.setText(capnp::as_text(msg.get_as<std::string>(1)));
      return req.send().then([](auto&& response) -> caf::expected<caf::message> {
        if (response.hasError())
          return capnp::decode_error(response.getError());
        auto text = capnp::read_text(response.getText(), max_text, "text");
        if (!text)
          return std::move(text.error());
        return caf::make_message(std::move(*text));
      });
    }
    if (msg.match_elements<ct_call_atom, request_id, uint32_t, stream_sink_actor<std::string>>()) {
      auto rid = msg.get_as<request_id>(1);
      auto req = cap.callRequest();
      req.setRequestId(rid);
      req.setN(msg.get_as<uint32_t>(2));
      req.setSink(out.attach_sink<wire::StringSink>(
        rid, msg.get_as<stream_sink_actor<std::string>>(3), codec_));
      return req.send().then([](auto&&) { return caf::expected<caf::message>{caf::message{}}; });
    }
    if (msg.match_elements<cancel_atom, request_id, cancel_kind>()) {
      auto req = cap.cancelRequest();
      req.setRequestId(msg.get_as<request_id>(1));
      req.setKind(static_cast<uint8_t>(msg.get_as<cancel_kind>(2)));
      return req.send().then([](auto&&) { return caf::expected<caf::message>{caf::message{}}; });
    }
    return caf::expected<caf::message>{make_error(errc::invalid_request,
                                                  "the contract interface has no such message",
                                                  caf::to_string(msg))};
  }

private:
  std::shared_ptr<const string_codec> codec_;
};

} // namespace

std::shared_ptr<const capnp::interface_binding> make_contract_binding() {
  return make_contract_binding(1024);
}

std::shared_ptr<const capnp::interface_binding> make_contract_binding(size_t max_pending) {
  return std::make_shared<contract_binding>(max_pending);
}

} // namespace dynamo::testing::contract
