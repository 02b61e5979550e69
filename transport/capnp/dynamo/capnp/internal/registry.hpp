// The endpoints served by one capnp plane: address -> handler, withdrawn automatically when the
// handler terminates (same semantics as the in-process plane).
#pragma once

#include "dynamo/ids.hpp"
#include "dynamo/log.hpp"

#include <caf/actor.hpp>
#include <caf/error.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace dynamo::capnp::internal {

/// Thread-safe registry of served handlers. Shared (shared_ptr) with the cleanup attachables,
/// which hold it weakly.
class served_registry : public std::enable_shared_from_this<served_registry> {
public:
  /// An empty registry logging to `log`.
  explicit served_registry(logger_ptr log);

  /// Registers `handler` at `address` (already validated). invalid_request if the address is
  /// taken. Any thread.
  caf::error add(const instance_endpoint& address, caf::actor handler);

  /// Removes `address` (no-op if absent). Any thread.
  void remove(const instance_endpoint& address);

  /// The handler at `address`, or an invalid handle. Any thread.
  caf::actor find(const instance_endpoint& address) const;

  /// Every served address. Any thread.
  std::vector<instance_endpoint> list() const;

  /// Removes everything, releasing the handlers. Any thread.
  void clear();

  /// Removes `address` if it is still registration `generation`. Called by the cleanup.
  void expire(const instance_endpoint& address, uint64_t generation, const caf::error& reason);

private:
  struct entry {
    caf::actor handler;
    uint64_t generation = 0;
  };

  static void detach(const entry& e);

  logger_ptr log_;
  mutable std::mutex mu_;
  std::map<instance_endpoint, entry> entries_;
  uint64_t next_generation_ = 1;
};

} // namespace dynamo::capnp::internal
