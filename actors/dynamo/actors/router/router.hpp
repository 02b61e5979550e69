// The router: receives generate requests and forwards each to one worker chosen by a policy,
// tracking per-worker load from route to finish. Workers are found through discovery.
// Policy "kv" routes by KV-cache overlap and load (kv_routing), fed by the workers' KV events
// (or, approximate, by its own decisions), with a load valve that queues or sheds requests when
// every worker is busy and replica sync over the event plane.
// With edges to prefill components (disaggregated serving) the router also names a prefill
// worker in every forwarded request: the live one with the fewest open assignments.
#pragma once

#include "dynamo/actors/disagg_messages.hpp"
#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/actors/router/first_token_tap.hpp"
#include "dynamo/actors/router/kv_indexer.hpp"
#include "dynamo/actors/router/kv_routing.hpp"
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
  // Policy "kv" only (zero otherwise):
  std::vector<uint64_t> prefill_tokens;   ///< Parallel to workers: tracked prefill tokens.
  std::vector<uint64_t> decode_blocks;    ///< Parallel to workers: tracked decode blocks.
  uint64_t kv_decisions = 0;              ///< Requests routed by the KV scheduler.
  uint64_t kv_matched_blocks = 0;         ///< Their prompt blocks cached on the chosen worker.
  uint64_t kv_prompt_blocks = 0;          ///< Their full prompt blocks.
  uint64_t indexed_blocks = 0;            ///< (worker, block) entries in the prefix index.
  uint64_t queued = 0;                    ///< Requests waiting in the load valve now.
  uint64_t shed = 0;                      ///< Requests refused as overloaded by the valve.
  uint64_t rejected_workers = 0;          ///< Workers refused (block size / hash scheme).
  uint64_t sync_applied = 0;              ///< Replica sync events applied.
  kv_ingest_stats ingest;                 ///< The KV event ingester's counters.
  // With prefill components only (empty otherwise):
  std::vector<uint64_t> prefill_workers;  ///< Live prefill instance ids, in arrival order.
  std::vector<uint32_t> prefill_active;   ///< Parallel: assigned requests not yet finished.
  std::vector<uint64_t> prefill_assigned; ///< Parallel: requests assigned since it joined.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(caf::meta::type_name("router_stats"), x.policy, x.workers, x.active_requests, x.routed,
           x.rejected, x.prefill_tokens, x.decode_blocks, x.kv_decisions, x.kv_matched_blocks,
           x.kv_prompt_blocks, x.indexed_blocks, x.queued, x.shed, x.rejected_workers,
           x.sync_applied, x.ingest, x.prefill_workers, x.prefill_active, x.prefill_assigned);
}

/// Router message: replica sync events (encoded) from another router replica.
using router_sync_atom = caf::atom_constant<caf::atom("r_sync")>;
/// Router self message: periodic upkeep (queue timeouts, expiry, gauges).
using router_tick_atom = caf::atom_constant<caf::atom("r_tick")>;

/// The router's full typed interface: generate + lifecycle + peer updates + stats.
using router_actor = generate_actor::extend_with<lifecycle_actor>::extend<
  caf::reacts_to<peer_atom, peer_change>, caf::reacts_to<peer_retry_atom, uint64_t>,
  caf::replies_to<stats_atom>::with<router_stats>, caf::reacts_to<first_token_atom, uint64_t>,
  caf::reacts_to<router_sync_atom, std::string>, caf::reacts_to<router_tick_atom>>;

/// Router settings (flags "--<name>.*").
struct router_config {
  std::string policy = "round-robin";  ///< round-robin | random | least-loaded | kv
  uint64_t seed = 0;                   ///< Seed of the random policy (0 = from instance id).
  /// Pause between reconnect attempts to a worker whose connection broke while discovery still
  /// lists it (it is out of rotation meanwhile).
  std::chrono::milliseconds reconnect_delay{500};
  kv_routing_config kv;  ///< Policy "kv": cost, approximate mode, busy thresholds.
  /// Policy "kv": requests held while every worker is busy; beyond it they are refused as
  /// overloaded (503 + Retry-After at the frontend). 0 = refuse at once.
  uint32_t queue_limit = 1024;
  /// Policy "kv": longest wait in the valve's queue before a request is refused as overloaded.
  std::chrono::milliseconds queue_timeout{30000};
  /// Policy "kv": share route / first-token / finish events with the other router replicas.
  bool replica_sync = true;
  /// Policy "kv": period of upkeep (queue timeouts, expiry of stale load and decisions).
  std::chrono::milliseconds tick_interval{500};

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Graph component: a router in front of workers. Edges to prefill components (prefill_api)
/// are optional: without them requests are forwarded unchanged.
struct router {
  using config = router_config;
  using provides = interfaces<generate_api>;
  using requires_ = interfaces<worker_api, prefill_api>;
  static constexpr std::string_view kind = "router";
  /// Spawns one replica; it serves `<ns>.<name>.generate` and registers in discovery.
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

} // namespace dynamo::actors
