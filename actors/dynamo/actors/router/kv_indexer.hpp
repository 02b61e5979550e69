// The KV event ingester of a KV-aware router: subscribes to its workers' KV event subjects,
// applies each worker's events to the shared prefix index in event-id order, and repairs what
// the at-most-once event plane loses. A gap in a worker's event ids (or an event that does not
// fit the index) triggers a query to the worker's "kv" endpoint for the missing range, or for a
// full dump when the worker no longer has the range; events that arrive meanwhile are buffered
// and applied after the answer. Every accepted worker is dumped once when it joins.
#pragma once

#include "dynamo/actors/kv_messages.hpp"
#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/component.hpp"
#include "dynamo/kv_router/prefix_index.hpp"

#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>

namespace dynamo::actors {

/// A raw event batch from the event plane (the payload as published).
using kv_batch_atom = caf::atom_constant<caf::atom("kv_batch")>;
/// A worker accepted by the router joined (up) or left (down): start or stop indexing it.
using kv_worker_atom = caf::atom_constant<caf::atom("kv_worker")>;
/// Internal: retry a failed recovery query of a worker.
using kv_retry_atom = caf::atom_constant<caf::atom("kv_retry")>;

/// Counters of an ingester (for stats, tests and metrics).
struct kv_ingest_stats {
  uint64_t batches = 0;          ///< Batches received from accepted workers.
  uint64_t events_applied = 0;   ///< Events applied to the index (incl. dumps and replays).
  uint64_t duplicates = 0;       ///< Events skipped because their id was applied already.
  uint64_t gaps = 0;             ///< Gaps in a worker's event ids detected.
  uint64_t range_replays = 0;    ///< Recoveries answered with the missing range.
  uint64_t dumps = 0;            ///< Recoveries answered with a full dump (incl. on join).
  uint64_t rejected = 0;         ///< Batches refused (malformed, wrong block size).
  uint64_t unknown_worker = 0;   ///< Batches of workers the router has not accepted.
  uint64_t recovery_failures = 0;///< Queries that failed (they are retried).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_ingest_stats& x) {
  return f(caf::meta::type_name("kv_ingest_stats"), x.batches, x.events_applied, x.duplicates,
           x.gaps, x.range_replays, x.dumps, x.rejected, x.unknown_worker, x.recovery_failures);
}

/// The ingester's typed interface.
using kv_indexer_actor = caf::typed_actor<
  caf::reacts_to<kv_batch_atom, std::string>, caf::reacts_to<kv_worker_atom, peer_change>,
  caf::reacts_to<kv_retry_atom, uint64_t, uint64_t>,
  caf::replies_to<stats_atom>::with<kv_ingest_stats>>;

/// Ingester settings.
struct kv_indexer_config {
  uint32_t block_size = 0;  ///< Batches of another block size are refused (0 = accept any).
  /// Pause before a failed recovery query is retried.
  std::chrono::milliseconds retry_delay{200};
  /// Batches buffered per worker while its recovery is in flight; beyond it they are dropped
  /// and the recovery asks for a full dump instead.
  size_t max_buffered = 4096;
};

/// Spawns the ingester of the router `ctx` (subscribing to the KV event subjects of the
/// router's worker targets; unsubscribed when it terminates). It writes `index`. The router
/// announces accepted workers with (kv_worker_atom, change) and links it to itself.
kv_indexer_actor spawn_kv_indexer(component_context& ctx, kv_indexer_config cfg,
                                  std::shared_ptr<kv_router::prefix_index> index);

} // namespace dynamo::actors
