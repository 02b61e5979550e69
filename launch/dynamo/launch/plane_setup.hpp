// The planes of the component role: NATS discovery and events, the Cap'n Proto request plane
// whose resolver finds a remote instance's RPC address in its discovery record, and UCX
// data-plane agents.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/runtime.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace dynamo::capnp {
class interface_binding;
} // namespace dynamo::capnp

namespace dynamo {

class discovery_plane;
struct instance_endpoint;

namespace launch {

/// Cap'n Proto interface bindings by endpoint name.
using binding_map = std::map<std::string, std::shared_ptr<const capnp::interface_binding>>;

/// The discovery-metadata key under which a replica publishes its request-plane address.
inline constexpr std::string_view rpc_address_key = "rpc_address";

/// Settings of the distributed planes of one process.
struct distributed_settings {
  std::string nats_url;                  ///< NATS server URL(s).
  std::string connection_name;           ///< Shown by the NATS server ("agg/router").
  std::string rpc_listen = "127.0.0.1:0"; ///< Where the RPC server listens.
  std::string rpc_advertise;             ///< What peers dial; empty: the bound address.
  binding_map bindings;                  ///< Interface bindings (must not be empty).
  std::chrono::milliseconds timeout{2000}; ///< Bound on NATS round trips and RPC connects.
  log_sinks* logs = nullptr;             ///< Where the planes' loggers come from (borrowed).
};

/// The built-in bindings: "generate" -> the generate interface of the actors, "kv" -> the
/// workers' KV recovery interface (kv_query), "prefill" -> the prefill workers' remote prefill.
binding_map default_bindings();

/// Finds the RPC address of the process serving `address`: the rpc_address_key metadata of the
/// instance's discovery record. Errors: not_found when the instance has no record (it is gone
/// or not yet visible) or publishes no RPC address (an in-process replica). Any thread.
caf::expected<std::string> resolve_rpc_address(const discovery_plane& disc,
                                               const instance_endpoint& address);

/// Connects the NATS discovery and event planes and returns them with a factory for the
/// Cap'n Proto request plane (resolving through that discovery plane) and one for UCX
/// data-plane agents (ucx::make_ucx_agent, logger "data"). Errors: unavailable when
/// NATS cannot be reached; invalid_request for a malformed URL or no bindings. Main thread.
caf::expected<plane_backends> make_distributed_backends(const distributed_settings& settings);

} // namespace launch
} // namespace dynamo
