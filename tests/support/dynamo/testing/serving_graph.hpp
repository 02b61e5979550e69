// Serves a graph in-process for a test: an embedded runtime, a graph_runner, and the bound HTTP
// port of a frontend read back from discovery. Every wait is bounded.
#pragma once

#include "dynamo/graph.hpp"
#include "dynamo/runner.hpp"
#include "dynamo/runtime.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace dynamo::testing {

/// Starts `g` in a fresh runtime; stops it (forced) on destruction.
class serving_graph {
public:
  /// Starts the graph. Fails the current test (ADD_FAILURE) if it does not start.
  explicit serving_graph(const graph& g, runtime_config cfg = test_runtime_config());
  ~serving_graph();

  /// A runtime config for tests: 2 threads, warnings only, fixed seed.
  static runtime_config test_runtime_config();

  /// The runtime.
  runtime& rt() { return *rt_; }
  /// The runner.
  graph_runner& runner() { return *runner_; }
  /// Whether start() succeeded.
  bool started() const noexcept { return started_; }

  /// Waits (up to `timeout`) until component `frontend` has registered its HTTP address and
  /// `expected_workers` instances of `worker` are registered; returns the HTTP port or 0.
  uint16_t wait_ready(const std::string& frontend = "frontend", const std::string& worker = "worker",
                      size_t expected_workers = 1,
                      std::chrono::milliseconds timeout = std::chrono::seconds{10});

  /// Number of registered instances of `component`.
  size_t registered(const std::string& component) const;

private:
  std::unique_ptr<runtime> rt_;
  std::unique_ptr<graph_runner> runner_;
  bool started_ = false;
};

} // namespace dynamo::testing
