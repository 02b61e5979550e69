// The aggregated worker: serves the generate endpoint with an engine (continuous batching),
// streams tokens to each request's sink, publishes KV events and load on the event plane and
// registers itself (with its capacity facts) in discovery.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/component.hpp"
#include "dynamo/engine/engine.hpp"
#include "dynamo/mocker/mocker_config.hpp"

#include <caf/typed_actor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace dynamo::actors {

/// Internal: the engine's delayed step results are due.
using step_atom = caf::atom_constant<caf::atom("step")>;
/// Internal: the drain bound passed.
using drain_to_atom = caf::atom_constant<caf::atom("drain_to")>;

/// The worker's full typed interface: the public generate + lifecycle contract, plus the
/// messages it sends itself.
using worker_actor = generate_actor::extend_with<lifecycle_actor>::extend<
  caf::reacts_to<step_atom, uint64_t>, caf::reacts_to<drain_to_atom>>;

/// Worker settings (flags "--<name>.*").
struct worker_config {
  std::string model = "mock-model";               ///< The model name this worker serves.
  std::chrono::milliseconds load_interval{100};   ///< Minimum gap between load publications.
  mocker::mocker_config mocker;                   ///< Engine settings (the mocker for now).

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Subjects on the event plane (per namespace and component; the publisher id is the instance).
std::string kv_events_subject(const component_id& component);
/// Load metrics subject.
std::string load_subject(const component_id& component);

/// Spawns a worker driving `engine`. Registers `<ns>/<name>/<instance>` in discovery and serves
/// `<ns>.<name>.generate` on the request plane.
worker_actor spawn_worker(component_context& ctx, const worker_config& cfg,
                          std::unique_ptr<engine::engine> engine);

/// Graph component: an aggregated worker with the mocker engine.
struct mocker_worker {
  using config = worker_config;
  using provides = interfaces<worker_api, generate_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "worker";
  /// Spawns one replica (the mocker is seeded with the replica's instance id).
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

} // namespace dynamo::actors
