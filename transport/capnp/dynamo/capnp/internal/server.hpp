// The callee side of a capnp plane: the RPC server on the plane's loop thread. Its bootstrap
// capability (rpc::Registry) resolves an address to the endpoint's capability made by the
// endpoint's binding, plus a lifetime capability tied to the handler.
#pragma once

#include "dynamo/capnp/binding.hpp"
#include "dynamo/capnp/internal/registry.hpp"
#include "dynamo/log.hpp"
#include "dynamo/loop/loop_bridge.hpp"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <map>
#include <memory>
#include <string>

namespace dynamo::capnp::internal {

/// Bindings by endpoint name.
using binding_map = std::map<std::string, std::shared_ptr<const interface_binding>>;

/// Accepts connections and serves the registry on each. Loop thread only; destroying it closes
/// the listener and every accepted connection (calls in progress are cancelled).
class rpc_server {
public:
  /// Serves on `listener` (already bound).
  rpc_server(kj::Own<kj::ConnectionReceiver> listener, std::shared_ptr<served_registry> registry,
             std::shared_ptr<const binding_map> bindings,
             std::shared_ptr<loop::loop_bridge> bridge, logger_ptr log);

  rpc_server(const rpc_server&) = delete;
  rpc_server& operator=(const rpc_server&) = delete;
  ~rpc_server();

  /// The bound port.
  uint16_t port() const noexcept {
    return port_;
  }

private:
  kj::Own<kj::ConnectionReceiver> listener_;
  uint16_t port_;
  ::capnp::TwoPartyServer server_;
  kj::Promise<void> accepting_;
};

} // namespace dynamo::capnp::internal
