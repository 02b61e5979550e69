// The prefill worker of disaggregated serving: computes the prompts decode workers send it, keeps
// their KV blocks just long enough to write them into the decode worker's reserved blocks over
// the data plane (one transfer per layer, all in flight at once), then frees them and replies
// with the first token.
#pragma once

#include "dynamo/actors/disagg_messages.hpp"
#include "dynamo/actors/worker/kv_data.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/component.hpp"
#include "dynamo/drain.hpp"
#include "dynamo/engine/engine.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <string_view>

namespace dynamo::actors {

/// Internal: one layer's transfer of a remote prefill finished (with none or its error).
using prefill_sent_atom = caf::atom_constant<caf::atom("pf_sent")>;
/// Internal: a remote prefill's deadline passed.
using prefill_due_atom = caf::atom_constant<caf::atom("pf_due")>;

/// A prefill worker's work in progress and its engine's load, for tests and operators.
struct prefill_worker_stats {
  uint64_t active_prefills = 0;        ///< Remote prefills not replied to yet.
  uint64_t sending = 0;                ///< Of those: computed, their KV being written.
  uint64_t cached_peers = 0;           ///< Decode replicas whose pools are remembered.
  uint64_t active_kv_blocks = 0;       ///< engine_stats::active_kv_blocks.
  uint64_t held_kv_blocks = 0;         ///< engine_stats::held_kv_blocks.
  uint32_t waiting_sequences = 0;      ///< engine_stats::waiting_sequences.
  uint32_t running_sequences = 0;      ///< engine_stats::running_sequences.
  uint64_t data_in_flight = 0;         ///< The data-plane agent's transfers in flight.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prefill_worker_stats& x) {
  return f(caf::meta::type_name("prefill_worker_stats"), x.active_prefills, x.sending,
           x.cached_peers, x.active_kv_blocks, x.held_kv_blocks, x.waiting_sequences,
           x.running_sequences, x.data_in_flight);
}

/// The prefill worker's full typed interface: prefill + lifecycle + a stats query, plus its
/// self messages.
using prefill_worker_actor = prefill_actor::extend_with<lifecycle_actor>::extend<
  caf::replies_to<stats_atom>::with<prefill_worker_stats>,
  caf::reacts_to<step_atom, uint64_t>, caf::reacts_to<drain_to_atom>,
  caf::reacts_to<prefill_sent_atom, request_id, caf::error>,
  caf::reacts_to<prefill_due_atom, request_id>>;

/// Spawns a prefill worker driving `engine` (detached when engine->computes()), whose KV pool
/// lives in `data` (attach_engine must have completed data->layout). Serves
/// `<ns>.<name>.prefill` on the request plane and registers `<ns>/<name>/<instance>` with the
/// endpoint, the engine's capacity facts and the pool (kv_data::announce). A worker whose
/// registration fails terminates with that error. Any thread.
prefill_worker_actor spawn_prefill_worker(component_context& ctx, const worker_config& cfg,
                                          std::unique_ptr<engine::engine> engine,
                                          std::shared_ptr<kv_data> data);

/// Graph component: a prefill worker (engine chosen by --<name>.engine) whose KV pool is
/// registered with the runtime's data plane.
struct prefill_worker {
  using config = worker_config;
  using provides = interfaces<prefill_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "prefill";
  /// Makes the replica's data agent and engine, then spawns; a null actor (logged) on failure.
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

} // namespace dynamo::actors
