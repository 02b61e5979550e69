// The worker: serves the generate endpoint with an engine (continuous batching), streams tokens
// to each request's sink, publishes KV events and load on the event plane and registers itself
// (with its capacity facts) in discovery. A decode worker (disaggregated serving) also reserves
// KV blocks for a prompt and has a prefill worker compute it into them, when that pays off.
#pragma once

#include "dynamo/actors/disagg_messages.hpp"
#include "dynamo/actors/kv_messages.hpp"
#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/batching/scheduler_config.hpp"
#include "dynamo/component.hpp"
#include "dynamo/disagg/disagg_policy.hpp"
#include "dynamo/engine/engine.hpp"
#include "dynamo/mocker/mocker_config.hpp"
#include "dynamo/reference/reference_config.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace dynamo::actors {

struct kv_data;

/// Internal: the engine's delayed step results are due.
using step_atom = caf::atom_constant<caf::atom("step")>;
/// Internal: the drain bound passed.
using drain_to_atom = caf::atom_constant<caf::atom("drain_to")>;
/// Internal: a remote prefill (request id, attempt) reached remote_prefill_timeout.
using remote_due_atom = caf::atom_constant<caf::atom("rp_due")>;

/// A worker's counters and its engine's load, for tests and operators.
struct worker_stats {
  uint64_t active_requests = 0;        ///< Requests whose caller waits for tokens.
  uint64_t awaiting_remote = 0;        ///< Remote prefills not answered yet (incl. abandoned).
  uint64_t remote_prefills = 0;        ///< Remote prefills started (decode workers).
  uint64_t remote_prefill_fallbacks = 0;  ///< Failed remote prefills redone locally.
  uint64_t local_prefills = 0;         ///< Prompts a decode worker prefilled itself.
  uint64_t kv_transfer_bytes = 0;      ///< KV bytes prefill workers wrote into this worker.
  uint64_t active_kv_blocks = 0;       ///< engine_stats::active_kv_blocks.
  uint64_t cached_kv_blocks = 0;       ///< engine_stats::cached_kv_blocks.
  uint64_t held_kv_blocks = 0;         ///< engine_stats::held_kv_blocks.
  uint32_t awaiting_kv_sequences = 0;  ///< engine_stats::awaiting_kv_sequences.
  uint32_t waiting_sequences = 0;      ///< engine_stats::waiting_sequences.
  uint32_t running_sequences = 0;      ///< engine_stats::running_sequences.
  uint64_t data_in_flight = 0;         ///< The data-plane agent's transfers in flight.
  uint64_t prefill_peers = 0;          ///< Live prefill workers (decode workers).
  uint64_t rejected_prefill_peers = 0; ///< Prefill worker announcements refused (KV layout).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_stats& x) {
  return f(caf::meta::type_name("worker_stats"), x.active_requests, x.awaiting_remote,
           x.remote_prefills, x.remote_prefill_fallbacks, x.local_prefills, x.kv_transfer_bytes,
           x.active_kv_blocks, x.cached_kv_blocks, x.held_kv_blocks, x.awaiting_kv_sequences,
           x.waiting_sequences, x.running_sequences, x.data_in_flight, x.prefill_peers,
           x.rejected_prefill_peers);
}

/// The worker's full typed interface: the public generate + lifecycle + kv_query contract, a
/// stats query, the prefill peers a decode worker watches, plus the messages it sends itself.
using worker_actor = generate_actor::extend_with<lifecycle_actor>::extend_with<
  kv_query_actor>::extend<caf::replies_to<stats_atom>::with<worker_stats>,
                          caf::reacts_to<peer_atom, peer_change>,
                          caf::reacts_to<peer_retry_atom, uint64_t>,
                          caf::reacts_to<remote_due_atom, request_id, uint64_t>,
                          caf::reacts_to<step_atom, uint64_t>, caf::reacts_to<drain_to_atom>>;

/// Worker settings (flags "--<name>.*").
struct worker_config {
  /// The model name this worker serves; empty = the checkpoint directory's name, or
  /// "mock-model" for the mocker without a checkpoint.
  std::string model;
  /// "reference" (real inference on the CPU) or "mocker" (simulation). Used by
  /// aggregated_worker; mocker_worker always runs the mocker.
  std::string engine = "mocker";
  /// Hugging Face checkpoint directory: the reference engine's weights; for either engine the
  /// tokenizer files frontends load (published in the registration as model_path).
  std::string model_path;
  /// A synthesizer preset ("tiny", "small-100m"): when model_path does not hold a checkpoint
  /// yet, such a model is generated there first.
  std::string synthesize;
  /// The reference engine's model_path when none is given (e.g. a cache directory, where
  /// `synthesize` generates the model on first run). Unused by the mocker, which then serves
  /// "mock-model" without files.
  std::string default_model_path;
  std::chrono::milliseconds load_interval{100};   ///< Minimum gap between load publications.
  /// Newest KV events kept for the kv endpoint's gap replays (>= 1); a router that missed
  /// older ones gets a full dump instead.
  uint32_t kv_event_history = 8192;
  batching::scheduler_config scheduler;           ///< Batching and KV cache (every engine).
  mocker::simulation_config mocker;               ///< Mocker only: speed and output tokens.
  reference::compute_config reference;            ///< Reference engine only: threads, KV bytes.
  /// Decode workers: when to prefill a prompt remotely ("--<name>.disagg.*").
  disagg::disagg_policy_config disagg;
  /// Decode workers: how long a remote prefill may take before it is cancelled (its blocks are
  /// freed once the prefill worker confirmed, or a grace period of 2 s later).
  std::chrono::milliseconds remote_prefill_timeout{30000};
  /// Decode workers: on a failed remote prefill (prefill worker unavailable, gone, overloaded,
  /// late or broken) prefill locally instead of failing the request.
  bool remote_prefill_fallback = true;

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Subjects on the event plane (per namespace and component; the publisher id is the instance).
std::string kv_events_subject(const component_id& component);
/// Load metrics subject.
std::string load_subject(const component_id& component);
/// The JSON a worker publishes on load_subject: the engine's load and capacity, plus the
/// requests it serves now. Any thread.
std::string encode_load(uint64_t worker, const engine::engine_stats& stats,
                        size_t active_requests);

/// Spawns a worker driving `engine` (detached when engine->computes()). Serves
/// `<ns>.<name>.generate` and `<ns>.<name>.kv` (KV recovery; left out of the registration, with
/// a warning, when the request plane cannot serve it) on the request plane and registers
/// `<ns>/<name>/<instance>` in discovery with both endpoints.
worker_actor spawn_worker(component_context& ctx, const worker_config& cfg,
                          std::unique_ptr<engine::engine> engine);

/// Spawns a decode worker: as spawn_worker, plus its registration announces `data`'s pool
/// (attach_engine must have completed data->layout for `engine`) and it prefills prompts on the
/// prefill workers it is connected to (ctx targets for prefill_api) when cfg.disagg says so,
/// locally otherwise. Any thread.
worker_actor spawn_decode_worker(component_context& ctx, const worker_config& cfg,
                                 std::unique_ptr<engine::engine> engine,
                                 std::shared_ptr<kv_data> data);

/// `cfg` with model_path resolved: default_model_path for the reference engine when empty.
worker_config resolve_model_path(worker_config cfg);

/// The model name a worker with `cfg` serves (see worker_config::model).
std::string served_model_name(const worker_config& cfg);

/// Builds the engine `cfg.engine` names (call with a resolved config): synthesizes the model
/// first if asked, opens the
/// checkpoint, validates settings. A non-empty `provider` supplies the KV pool's memory.
/// Errors: invalid_request naming the problem, the provider's error. Blocking (it loads
/// weights); call it before spawning.
caf::expected<std::unique_ptr<engine::engine>>
make_engine(const worker_config& cfg, logger_ptr log, engine::kv_memory_provider provider = {});

/// Graph component: an aggregated worker whose engine is chosen by --<name>.engine.
struct aggregated_worker {
  using config = worker_config;
  using provides = interfaces<worker_api, generate_api, kv_query_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "worker";
  /// Spawns one replica (an engine that computes gets a thread of its own).
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

/// Graph component: an aggregated worker with the mocker engine.
struct mocker_worker {
  using config = worker_config;
  using provides = interfaces<worker_api, generate_api, kv_query_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "worker";
  /// Spawns one replica (the mocker is seeded with the replica's instance id).
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

/// Graph component: a decode worker of disaggregated serving (engine chosen by
/// --<name>.engine) whose KV pool is registered with the runtime's data plane. Connected to
/// prefill components, it hands prompts to them; without live prefill peers it prefills locally.
struct decode_worker {
  using config = worker_config;
  using provides = interfaces<worker_api, generate_api, kv_query_api>;
  using requires_ = interfaces<prefill_api>;
  static constexpr std::string_view kind = "worker";
  /// Makes the replica's data agent and engine, then spawns; a null actor (logged) on failure.
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

} // namespace dynamo::actors
