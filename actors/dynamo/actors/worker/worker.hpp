// The aggregated worker: serves the generate endpoint with an engine (continuous batching),
// streams tokens to each request's sink, publishes KV events and load on the event plane and
// registers itself (with its capacity facts) in discovery.
#pragma once

#include "dynamo/actors/kv_messages.hpp"
#include "dynamo/actors/messages.hpp"
#include "dynamo/batching/scheduler_config.hpp"
#include "dynamo/component.hpp"
#include "dynamo/engine/engine.hpp"
#include "dynamo/mocker/mocker_config.hpp"
#include "dynamo/reference/reference_config.hpp"

#include <caf/expected.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace dynamo::actors {

/// Internal: the engine's delayed step results are due.
using step_atom = caf::atom_constant<caf::atom("step")>;
/// Internal: the drain bound passed.
using drain_to_atom = caf::atom_constant<caf::atom("drain_to")>;

/// The worker's full typed interface: the public generate + lifecycle + kv_query contract, plus
/// the messages it sends itself.
using worker_actor = generate_actor::extend_with<lifecycle_actor>::extend_with<
  kv_query_actor>::extend<caf::reacts_to<step_atom, uint64_t>, caf::reacts_to<drain_to_atom>>;

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

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Subjects on the event plane (per namespace and component; the publisher id is the instance).
std::string kv_events_subject(const component_id& component);
/// Load metrics subject.
std::string load_subject(const component_id& component);

/// Spawns a worker driving `engine` (detached when engine->computes()). Serves
/// `<ns>.<name>.generate` and `<ns>.<name>.kv` (KV recovery; left out of the registration, with
/// a warning, when the request plane cannot serve it) on the request plane and registers
/// `<ns>/<name>/<instance>` in discovery with both endpoints.
worker_actor spawn_worker(component_context& ctx, const worker_config& cfg,
                          std::unique_ptr<engine::engine> engine);

/// `cfg` with model_path resolved: default_model_path for the reference engine when empty.
worker_config resolve_model_path(worker_config cfg);

/// The model name a worker with `cfg` serves (see worker_config::model).
std::string served_model_name(const worker_config& cfg);

/// Builds the engine `cfg.engine` names (call with a resolved config): synthesizes the model
/// first if asked, opens the
/// checkpoint, validates settings. Errors: invalid_request naming the problem. Blocking (it
/// loads weights); call it before spawning.
caf::expected<std::unique_ptr<engine::engine>> make_engine(const worker_config& cfg,
                                                           logger_ptr log);

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

} // namespace dynamo::actors
