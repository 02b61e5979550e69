// Runs a graph inside one runtime: spawns every replica, drains and stops them.
#pragma once

#include "dynamo/drain.hpp"
#include "dynamo/graph.hpp"

#include <caf/actor.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace dynamo {

class runtime;

/// One spawned replica.
struct running_instance {
  std::string component;
  instance_id instance;
  caf::actor handle;
};

/// Indices of `nodes` in drain order: a node comes after every node that sends to it (sources
/// first); the nodes of a cycle follow in declaration order. Any thread.
std::vector<size_t> drain_order(const std::vector<node_spec>& nodes);

/// Spawns and stops the replicas of a graph. Not thread-safe: drive it from one thread (main or
/// a test). Destroying it stops whatever is still running (forced).
class graph_runner {
public:
  /// Borrows `rt` and copies the graph's node descriptions (after flag parsing).
  graph_runner(runtime& rt, const graph& g);
  ~graph_runner();

  /// Spawns every replica of the nodes named in `only` (every node when empty); edges to
  /// components not started here are fine (their replicas live in other processes). Errors:
  /// invalid_request for a name that is not a node of the graph, or when a started node has an
  /// edge to a component without replicas; internal if a spawn function returns an invalid
  /// actor (the replicas spawned so far keep running until stop()).
  caf::error start(const std::vector<std::string>& only = {});

  /// Graceful drain of all components, sources first (a component is drained after every
  /// component that sends to it), within `timeout` overall. Returns true when all drained clean.
  bool drain(std::chrono::milliseconds timeout);

  /// Forced stop: kills every replica still alive and waits (bounded) for them to terminate.
  void stop();

  /// Sends a kill exit to every replica without waiting or forgetting them. Safe to call while
  /// another thread is inside drain().
  void kill_all() const;

  /// The replicas spawned by start().
  const std::vector<running_instance>& instances() const noexcept { return instances_; }

  /// Replicas of component `name`.
  std::vector<running_instance> instances_of(const std::string& name) const;

private:
  runtime& rt_;
  std::string graph_name_;
  std::vector<node_spec> nodes_;
  std::vector<running_instance> instances_;
  std::vector<size_t> instance_node_;
  bool stopped_ = false;
};

} // namespace dynamo
