// In-process data backend: agents of one fabric copy between each other's registered regions
// with memcpy on the fabric's worker threads. Stands in for UCX in tests and single-process
// deployments (disaggregated prefill/decode inside one process).
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/plane/data.hpp"

#include <memory>
#include <string>
#include <vector>

namespace dynamo {

/// Settings of an in-process fabric.
struct inproc_fabric_options {
  /// Copy threads shared by all agents of the fabric (at least 1; 0 is treated as 1).
  size_t workers = 2;
  /// Defaults to default_logger("data").
  logger_ptr log;
};

/// A set of in-process agents that can reach one another by name. The fabric's state lives
/// as long as the fabric or any of its agents. Thread-safe.
class inproc_fabric {
public:
  /// The state shared by the fabric and its agents (defined in inproc_data.cpp).
  class core;

  /// Starts the fabric's worker threads. Any thread.
  explicit inproc_fabric(inproc_fabric_options opts = {});

  inproc_fabric(const inproc_fabric&) = delete;
  inproc_fabric& operator=(const inproc_fabric&) = delete;

  ~inproc_fabric();

  /// Makes an agent reachable under `name` (an empty name is replaced by a generated one).
  /// A name already in use is taken over: the older agent keeps working locally but is no
  /// longer reachable as a remote peer. Transfers run on the fabric's workers: they are
  /// coalesced, then copied with memmove; on_done runs on a worker thread. allocate_region
  /// hands out 64-byte aligned, zeroed heap memory, freed on deregister or with the agent.
  /// Any thread.
  std::unique_ptr<data_plane> make_agent(std::string name);

  /// Names of the agents reachable right now, sorted. Any thread.
  std::vector<std::string> agents() const;

private:
  std::shared_ptr<core> core_;
};

/// Makes a fabric owned by a shared_ptr (what the contract suites and runtimes hold).
std::shared_ptr<inproc_fabric> make_inproc_fabric(inproc_fabric_options opts = {});

} // namespace dynamo
