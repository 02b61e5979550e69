#include "dynamo/actors/wire/kv_query_binding.hpp"

#include "dynamo/actors/kv_messages.hpp"
#include "dynamo/actors/wire/kv_query.capnp.h"
#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"

#include <caf/make_message.hpp>

#include <optional>
#include <string>
#include <utility>

// Generated Server classes have no virtual destructor; kj::heap's disposer deletes the exact
// type, so GCC's -Wnon-virtual-dtor does not apply.
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

namespace dynamo::actors::wire {

namespace {

void encode(const kv_replay& x, schema::KvReplay::Builder out) {
  out.setFullDump(x.full_dump);
  out.setLastEventId(x.last_event_id);
  out.setBatch(
    kj::arrayPtr(reinterpret_cast<const kj::byte*>(x.batch.data()), x.batch.size()));
}

caf::expected<caf::message> decode(schema::KvReplayResult::Reader in) {
  return capnp::decode_guarded("kv query result", [&in]() -> caf::expected<caf::message> {
    switch (in.which()) {
      case schema::KvReplayResult::REPLAY: {
        auto replay = in.getReplay();
        auto bytes = replay.getBatch();
        kv_replay x;
        x.full_dump = replay.getFullDump();
        x.last_event_id = replay.getLastEventId();
        x.batch.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
        return caf::make_message(std::move(x));
      }
      case schema::KvReplayResult::ERROR:
        return capnp::decode_error(in.getError());
    }
    return make_error(errc::invalid_request, "malformed kv query result",
                      "unknown variant of KvReplayResult (a newer peer?)");
  });
}

class kv_query_server final : public schema::KvQuery::Server {
public:
  explicit kv_query_server(std::shared_ptr<capnp::endpoint_host> host) : host_(std::move(host)) {
  }

protected:
  kj::Promise<void> query(QueryContext context) override {
    context.allowCancellation();
    auto params = context.getParams();
    auto reply = host_->ask<kv_replay>(caf::make_message(kv_query_atom::value,
                                                         params.getAfterEventId(),
                                                         params.getForceDump()),
                                       std::nullopt);
    return reply.then([context](caf::expected<kv_replay> replay) mutable {
      auto result = context.getResults().initResult();
      if (!replay)
        capnp::encode_error(replay.error(), result.initError());
      else
        encode(*replay, result.initReplay());
    });
  }

private:
  std::shared_ptr<capnp::endpoint_host> host_;
};

class binding final : public capnp::interface_binding {
public:
  std::string_view interface_name() const noexcept override {
    return kv_query_interface_name;
  }

  ::capnp::Capability::Client serve(std::shared_ptr<capnp::endpoint_host> host) const override {
    return kj::heap<kv_query_server>(std::move(host));
  }

  kj::Promise<caf::expected<caf::message>> call(capnp::outgoing_call&,
                                                ::capnp::Capability::Client target,
                                                caf::message msg) const override {
    if (!msg.match_elements<kv_query_atom, uint64_t, bool>())
      return caf::expected<caf::message>{make_error(errc::invalid_request,
                                                    "the kv interface has no such message",
                                                    caf::to_string(msg))};
    auto request = target.castAs<schema::KvQuery>().queryRequest();
    request.setAfterEventId(msg.get_as<uint64_t>(1));
    request.setForceDump(msg.get_as<bool>(2));
    return request.send().then(
      [](auto&& response) -> caf::expected<caf::message> { return decode(response.getResult()); });
  }
};

} // namespace

std::shared_ptr<const dynamo::capnp::interface_binding> kv_query_binding() {
  return std::make_shared<binding>();
}

} // namespace dynamo::actors::wire
