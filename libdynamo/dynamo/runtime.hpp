// The runtime: owns the CAF actor system, the planes, logging and metrics of one process.
// Built once from a runtime_config and passed down explicitly.
#pragma once

#include "dynamo/ids.hpp"
#include "dynamo/log.hpp"
#include "dynamo/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace dynamo {

class option_set;
class discovery_plane;
class request_plane;
class event_plane;
class data_plane;
class inproc_fabric;

/// Process-wide settings (flags "--runtime.*", env DYN_*).
struct runtime_config {
  std::string ns = "dynamo";                         ///< Namespace of every component id.
  size_t threads = 0;                                ///< CAF scheduler threads; 0 = all cores.
  std::string log_level = "info";
  std::chrono::milliseconds drain_timeout{10000};    ///< Bound for graceful drain.
  uint64_t seed = 0;                                 ///< Instance-id seed; 0 = random.
  /// TTL of the discovery leases the components of this process hold ("--discovery.ttl"): a
  /// replica that dies without deregistering disappears from its peers after at most this long.
  std::chrono::milliseconds lease_ttl{3000};
  /// Data-plane backend ("--runtime.data-backend"): "ucx", "inproc", or empty for the mode's
  /// default (UCX when the launcher built a distributed runtime, in-process when embedded).
  std::string data_backend;

  /// Registers the fields with `opts`.
  void bind(option_set& opts);
};

/// Backends of the planes of a distributed runtime. A null member keeps the in-process backend.
struct plane_backends {
  /// Discovery backend (e.g. NATS KV), shared with whoever else needs it (address resolvers).
  std::shared_ptr<discovery_plane> discovery;
  /// Event backend (e.g. NATS subjects).
  std::shared_ptr<event_plane> events;
  /// Builds the request plane once the actor system exists; called once, on the thread that
  /// calls runtime::make().
  std::function<caf::expected<std::unique_ptr<request_plane>>(caf::actor_system&)> requests;
  /// Builds one data-plane agent named `agent_name` (e.g. UCX); called by make_data_agent from
  /// any thread. Null: agents come from the runtime's in-process fabric.
  std::function<caf::expected<std::unique_ptr<data_plane>>(std::string agent_name)> data_agents;
};

/// One process's runtime: in embedded mode every plane has its in-process backend; make() puts
/// network backends in their place. Thread-safe accessors; destroy only after every component
/// actor has terminated.
class runtime {
public:
  /// Builds the actor system and the in-process planes (embedded mode).
  explicit runtime(runtime_config cfg);

  /// Builds the actor system and the planes, taking each from `backends` when given there.
  /// Errors: whatever the request-plane factory returns (e.g. unavailable for a busy address);
  /// internal when it returns a null plane; invalid_request for an unknown cfg.data_backend or
  /// "ucx" without a data_agents factory. cfg.data_backend "inproc" ignores data_agents.
  /// Any thread.
  static caf::expected<std::unique_ptr<runtime>> make(runtime_config cfg, plane_backends backends);

  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// The CAF actor system.
  caf::actor_system& system() noexcept { return *system_; }
  /// The configuration the runtime was built from.
  const runtime_config& config() const noexcept { return cfg_; }
  /// The namespace of all components in this runtime.
  const std::string& ns() const noexcept { return cfg_.ns; }
  /// Log sinks shared by all loggers of this process.
  log_sinks& logs() noexcept { return logs_; }
  /// Makes a logger "component/instance".
  logger_ptr logger(std::string_view component, std::string_view instance) const;
  /// The process's metrics registry (rendered by /metrics).
  metrics_registry& metrics() noexcept { return metrics_; }
  /// Draws the next instance id (deterministic when cfg.seed != 0).
  instance_id next_instance_id();

  /// The discovery plane.
  discovery_plane& discovery() noexcept { return *discovery_; }
  /// The request plane.
  request_plane& requests() noexcept { return *requests_; }
  /// The event plane.
  event_plane& events() noexcept { return *events_; }
  /// Shared ownership of the discovery plane, for cleanup code that may run after the runtime
  /// began shutting down (actor exit functors).
  std::shared_ptr<discovery_plane> discovery_ptr() const noexcept { return discovery_; }
  /// Shared ownership of the request plane (see discovery_ptr).
  std::shared_ptr<request_plane> requests_ptr() const noexcept { return requests_; }
  /// Shared ownership of the event plane (see discovery_ptr), e.g. to unsubscribe on exit.
  std::shared_ptr<event_plane> events_ptr() const noexcept { return events_; }
  /// Makes a data-plane agent for one component replica: through plane_backends::data_agents
  /// when make() was given one, else on the in-process fabric. Errors: the factory's (e.g.
  /// unavailable when UCX cannot start); unavailable when cfg.data_backend asks for "ucx" in an
  /// embedded runtime; internal for a null agent. Any thread.
  caf::expected<std::unique_ptr<data_plane>> make_data_agent(std::string name);

private:
  struct system_only {};
  runtime(runtime_config cfg, system_only);

  runtime_config cfg_;
  log_sinks logs_;
  metrics_registry metrics_;
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<discovery_plane> discovery_;
  std::shared_ptr<request_plane> requests_;
  std::shared_ptr<event_plane> events_;
  std::shared_ptr<inproc_fabric> fabric_;
  std::function<caf::expected<std::unique_ptr<data_plane>>(std::string)> data_agents_;
  std::mutex id_mtx_;
  uint64_t id_counter_ = 0;
};

} // namespace dynamo
