// The runtime: owns the CAF actor system, the planes, logging and metrics of one process.
// Built once from a runtime_config and passed down explicitly.
#pragma once

#include "dynamo/ids.hpp"
#include "dynamo/log.hpp"
#include "dynamo/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
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

  /// Registers the fields with `opts`.
  void bind(option_set& opts);
};

/// One process's runtime. Embedded mode: every plane has its in-process backend.
/// Thread-safe accessors; destroy only after every component actor has terminated.
class runtime {
public:
  /// Builds the actor system and the in-process planes.
  explicit runtime(runtime_config cfg);
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
  /// Makes a data-plane agent for one component replica (in-process fabric).
  std::unique_ptr<data_plane> make_data_agent(std::string name);

private:
  runtime_config cfg_;
  log_sinks logs_;
  metrics_registry metrics_;
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<discovery_plane> discovery_;
  std::shared_ptr<request_plane> requests_;
  std::shared_ptr<event_plane> events_;
  std::shared_ptr<inproc_fabric> fabric_;
  std::mutex id_mtx_;
  uint64_t id_counter_ = 0;
};

} // namespace dynamo
