// The router: receives generate requests and forwards each to one worker chosen by a policy,
// tracking per-worker load from route to finish. Workers are found through discovery.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/component.hpp"

#include <caf/typed_actor.hpp>

#include <chrono>
#include <string>

namespace dynamo::actors {

/// Snapshot of a router's view (for tests and diagnostics).
struct router_stats {
  std::string policy;                     ///< Name of the routing policy.
  std::vector<uint64_t> workers;          ///< Known worker instance ids.
  std::vector<uint32_t> active_requests;  ///< Parallel to workers.
  uint64_t routed = 0;
  uint64_t rejected = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(caf::meta::type_name("router_stats"), x.policy, x.workers, x.active_requests, x.routed,
           x.rejected);
}

/// The router's full typed interface: generate + lifecycle + peer updates + stats.
using router_actor = generate_actor::extend_with<lifecycle_actor>::extend<
  caf::reacts_to<peer_atom, peer_change>, caf::reacts_to<peer_retry_atom, uint64_t>,
  caf::replies_to<stats_atom>::with<router_stats>>;

/// Router settings (flags "--<name>.*").
struct router_config {
  std::string policy = "round-robin";  ///< round-robin | random | least-loaded
  uint64_t seed = 0;                   ///< Seed of the random policy (0 = from instance id).
  /// Pause between reconnect attempts to a worker whose connection broke while discovery still
  /// lists it (it is out of rotation meanwhile).
  std::chrono::milliseconds reconnect_delay{500};

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Graph component: a router in front of workers.
struct router {
  using config = router_config;
  using provides = interfaces<generate_api>;
  using requires_ = interfaces<worker_api>;
  static constexpr std::string_view kind = "router";
  /// Spawns one replica; it serves `<ns>.<name>.generate` and registers in discovery.
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

} // namespace dynamo::actors
