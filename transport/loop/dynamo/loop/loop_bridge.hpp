// The cross-thread bridge onto a kj event loop (HTTP server, Cap'n Proto plane): a
// mutex-protected closure queue and an eventfd that wakes the loop. See docs/design/kj-bridge.md for why and how. kj types are only
// forward-declared here, so that handler-facing code stays free of kj headers.
#pragma once

#include "dynamo/loop/unique_fd.hpp"
#include "dynamo/log.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace kj {
template <typename T>
class Promise;
class AsyncInputStream;
class LowLevelAsyncIoProvider;
} // namespace kj

namespace dynamo::loop {

/// Runs closures posted from any thread on one kj event-loop thread, in posting order.
/// Shared (shared_ptr) by the loop owner and everything that posts to it (HTTP response streams,
/// plane proxies), so it may outlive the loop: after close() posts are refused and dropped.
class loop_bridge {
public:
  /// Work to run on the loop thread.
  using closure = std::function<void()>;

  /// Creates the bridge and its eventfd. Any thread. Errors: unavailable when the OS refuses
  /// an eventfd (detail says why).
  static caf::expected<std::shared_ptr<loop_bridge>> make(logger_ptr log);

  loop_bridge(const loop_bridge&) = delete;
  loop_bridge& operator=(const loop_bridge&) = delete;
  ~loop_bridge();

  /// Queues `fn` to run on the loop thread after everything posted before it; never blocks on
  /// the loop (only a short mutex section and at most one eventfd write). Any thread.
  /// Returns false, dropping `fn`, once the bridge is closed.
  bool post(closure fn);

  /// Waits for wake-ups and runs queued closures in batches; never resolves, cancel it (drop the
  /// promise) to stop. Loop thread only; call once. `io` must outlive the returned promise.
  kj::Promise<void> run(kj::LowLevelAsyncIoProvider& io);

  /// Refuses further posts and destroys the queued closures on the calling thread without
  /// running them. Any thread; idempotent.
  void close();

  /// True until close(). Any thread.
  bool is_open() const;

private:
  loop_bridge(unique_fd event_fd, logger_ptr log);

  kj::Promise<void> wait_and_drain(kj::AsyncInputStream& wake);

  void drain();

  unique_fd event_fd_;
  logger_ptr log_;
  mutable std::mutex mutex_;
  std::vector<closure> queue_;
  bool closed_ = false;
  std::vector<closure> batch_;  // loop thread only
  uint64_t wake_count_ = 0;     // loop thread only: eventfd read target
};

} // namespace dynamo::loop
