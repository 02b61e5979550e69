#include "dynamo/capnp/internal/server.hpp"

#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"
#include "dynamo/ids.hpp"

#include <fmt/format.h>

#include <utility>

namespace dynamo::capnp::internal {

// Generated Server classes have no virtual destructor; kj::heap's disposer deletes the exact
// type, so GCC's -Wnon-virtual-dtor does not apply.
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

namespace {

/// Longest endpoint text / interface name accepted in a resolve call.
constexpr size_t max_name_bytes = 1024;

/// Resolves with the handler's exit, for one proxy.
class lifetime_server final : public rpc::Lifetime::Server {
public:
  explicit lifetime_server(std::shared_ptr<endpoint_host> host) : host_(std::move(host)) {
  }

protected:
  kj::Promise<void> wait(WaitContext context) override {
    context.allowCancellation();
    return host_->lifetime().then([context](caf::error reason) mutable {
      encode_error(make_error(errc::disconnected, "the endpoint's handler terminated",
                              caf::to_string(reason)),
                   context.getResults().initReason());
    });
  }

private:
  std::shared_ptr<endpoint_host> host_;
};

/// The bootstrap capability.
class registry_server final : public rpc::Registry::Server {
public:
  registry_server(std::shared_ptr<served_registry> registry,
                  std::shared_ptr<const binding_map> bindings,
                  std::shared_ptr<loop::loop_bridge> bridge, logger_ptr log)
    : registry_(std::move(registry)), bindings_(std::move(bindings)), bridge_(std::move(bridge)),
      log_(std::move(log)) {
  }

protected:
  kj::Promise<void> resolve(ResolveContext context) override {
    auto results = context.getResults();
    auto found = decode_guarded("resolve call", [this, &context, &results]() -> caf::expected<bool> {
      auto params = context.getParams();
      auto text = read_text(params.getEndpoint(), max_name_bytes, "endpoint");
      if (!text)
        return std::move(text.error());
      auto wanted = read_text(params.getInterface(), max_name_bytes, "interface");
      if (!wanted)
        return std::move(wanted.error());
      auto endpoint = endpoint_id::parse(*text);
      if (!endpoint)
        return std::move(endpoint.error());
      instance_endpoint address{*endpoint, instance_id{params.getInstance()}};
      auto handler = registry_->find(address);
      if (!handler)
        return make_error(errc::not_found,
                          fmt::format("nothing is served at '{}'", address.to_string()));
      auto binding = bindings_->find(endpoint->endpoint);
      if (binding == bindings_->end())
        return make_error(errc::not_found,
                          fmt::format("'{}' is served without an interface binding",
                                      address.to_string()));
      if (binding->second->interface_name() != *wanted)
        return make_error(errc::invalid_request,
                          fmt::format("'{}' speaks {}, the caller {}", address.to_string(),
                                      binding->second->interface_name(), *wanted));
      auto host = std::make_shared<endpoint_host>(std::move(handler), bridge_, log_);
      results.setEndpoint(binding->second->serve(host));
      results.setLifetime(kj::heap<lifetime_server>(std::move(host)));
      return true;
    });
    if (!found)
      encode_error(found.error(), results.initError());
    return kj::READY_NOW;
  }

private:
  std::shared_ptr<served_registry> registry_;
  std::shared_ptr<const binding_map> bindings_;
  std::shared_ptr<loop::loop_bridge> bridge_;
  logger_ptr log_;
};

} // namespace

rpc_server::rpc_server(kj::Own<kj::ConnectionReceiver> listener,
                       std::shared_ptr<served_registry> registry,
                       std::shared_ptr<const binding_map> bindings,
                       std::shared_ptr<loop::loop_bridge> bridge, logger_ptr log)
  : listener_(kj::mv(listener)), port_(static_cast<uint16_t>(listener_->getPort())),
    server_(kj::heap<registry_server>(std::move(registry), std::move(bindings), std::move(bridge),
                                      log)),
    accepting_(server_.listen(*listener_).eagerlyEvaluate([log](kj::Exception&& e) {
      log->error("the RPC listener failed: {}", e.getDescription().cStr());
    })) {
}

rpc_server::~rpc_server() = default;


} // namespace dynamo::capnp::internal
