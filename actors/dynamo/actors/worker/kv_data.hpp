// The data-plane side of a disaggregated worker replica: its agent, the KV pool the engine
// computes into (allocated and registered by the agent so that peers write it one-sidedly), and
// how the pool is announced in discovery (data_address + the "kv_layout" key) and found again.
#pragma once

#include "dynamo/disagg/transfer_plan.hpp"
#include "dynamo/engine/engine.hpp"
#include "dynamo/plane/data.hpp"
#include "dynamo/plane/registration.hpp"

#include <caf/expected.hpp>

#include <map>
#include <memory>
#include <string>

namespace dynamo {
class runtime;
class discovery_plane;
struct component_id;
} // namespace dynamo

namespace dynamo::actors {

/// Discovery metadata key of a replica's KV layout (disagg::encode_layout).
inline constexpr const char* kv_layout_key = "kv_layout";

/// A replica's data-plane agent and the region holding its engine's KV pool. Shared by the
/// worker actor and the engine's memory provider; the agent deregisters the region when the
/// last owner lets go. Thread-safe as data_plane is.
struct kv_data {
  std::shared_ptr<data_plane> agent;  ///< This replica's agent (runtime::make_data_agent).
  allocated_region pool;              ///< The engine's KV pool (empty until the engine is built).
  disagg::kv_layout layout;           ///< Set once the engine is built (see attach_engine).

  /// Writes data_address and kv_layout into `reg` (nothing when there is no pool).
  void announce(instance_registration& reg) const;
};

/// Makes an agent named "<component>/<instance>" through the runtime (in-process fabric or
/// UCX, whichever the runtime's data backend is). Errors: as the backend's constructor.
caf::expected<std::shared_ptr<kv_data>> make_kv_data(runtime& rt, const std::string& agent_name);

/// A kv_memory_provider that allocates the engine's pool through `data->agent` and records it in
/// data->pool. Keeps `data` alive.
engine::kv_memory_provider pool_provider(std::shared_ptr<kv_data> data);

/// Completes data->layout from the built engine (layers, blocks, region_bytes, block_size).
/// Errors: internal when the engine's kv_pool() does not lie in the allocated region.
caf::error attach_engine(kv_data& data, engine::engine& eng, uint32_t block_size);

/// A peer replica's pool as read from its discovery record.
struct peer_pool {
  region_descriptor region;
  disagg::kv_layout layout;
};

/// Decodes a peer's data_address and kv_layout from its registration. Errors:
/// not_found (the replica publishes no data-plane pool), invalid_request (malformed values).
caf::expected<peer_pool> peer_pool_of(const instance_registration& reg);

} // namespace dynamo::actors
