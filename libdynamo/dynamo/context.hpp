// The request context: identity, deadline and a cancellation tree. stop_generating asks the
// work to finish gracefully (emit what it has, then end); kill asks it to drop everything now.
// See docs/design/cancellation.md for how this maps onto actor messages.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

/// How strongly a request was cancelled; later values are stronger.
enum class cancel_kind : uint8_t { none = 0, stop_generating = 1, kill = 2 };

/// Stable lower-case name ("none", "stop_generating", "kill").
std::string_view to_string(cancel_kind x) noexcept;

/// One request's context. Thread-safe; shared by everything working for the request. The
/// parent holds its children weakly, so a finished child is freed as soon as its users drop it.
/// Deadlines are data: nothing fires when one passes; the owner checks expired() and cancels.
class request_context : public std::enable_shared_from_this<request_context> {
  class passkey {
    friend class request_context;
    passkey() = default;
  };

public:
  using clock = std::chrono::steady_clock;

  /// Use make() or make_child().
  request_context(passkey, std::string id, clock::time_point deadline, cancel_kind initial);
  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;
  ~request_context();

  /// A root context. Any thread.
  static std::shared_ptr<request_context>
  make(std::string id, clock::time_point deadline = clock::time_point::max());

  /// The request id given at creation. Any thread.
  const std::string& id() const noexcept;

  /// The deadline (time_point::max() for none). Any thread.
  clock::time_point deadline() const noexcept;

  /// Whether `now` is at or past the deadline. Any thread.
  bool expired(clock::time_point now = clock::now()) const noexcept;

  /// The strongest cancellation so far. Any thread.
  cancel_kind cancelled() const noexcept;

  /// True after stop_generating() or kill(). Any thread.
  bool is_stopped() const noexcept;

  /// True after kill(). Any thread.
  bool is_killed() const noexcept;

  /// Asks for a graceful finish; idempotent; propagates to all descendants. Runs callbacks on
  /// the calling thread before returning. Any thread.
  void stop_generating();

  /// Asks to drop the work now; upgrades a stop; idempotent; propagates to all descendants.
  /// Runs callbacks on the calling thread before returning. Any thread.
  void kill();

  /// Makes a linked child: deadline = min(parent, given); parent cancellation reaches it (a
  /// child's cancellation does not reach the parent). If the parent is already cancelled the
  /// child starts cancelled. Any thread.
  std::shared_ptr<request_context>
  make_child(std::string id, clock::time_point deadline = clock::time_point::max());

  /// Runs `cb(kind)` on each cancellation step (once for stop, once more on kill; a direct kill
  /// is one step), on the cancelling thread, outside internal locks. If already cancelled, runs
  /// at once with the current kind. Each callback sees strictly increasing kinds: a stop
  /// overtaken by a concurrent kill may be skipped, and it may run concurrently on two
  /// cancelling threads. `cb` must not throw (on_internal_error). Returns a token for
  /// remove_callback. Any thread.
  uint64_t on_cancel(std::function<void(cancel_kind)> cb);

  /// Unregisters a callback (unknown tokens are ignored). A run already started on another
  /// thread may still be finishing when this returns. Callbacks are also released after kill.
  /// Any thread.
  void remove_callback(uint64_t token);

  /// Number of children still alive (diagnostics and tests). Any thread.
  size_t live_children() const;

private:
  struct callback_entry;
  using entry_ptr = std::shared_ptr<callback_entry>;

  /// Cancels this context and its subtree with `kind`.
  void cancel(cancel_kind kind);

  /// Raises the level to `kind` under the lock; appends the callbacks to run (if the level rose)
  /// and the live children to `kids`. Returns whether the level rose.
  bool mark(cancel_kind kind, std::vector<entry_ptr>& cbs,
            std::vector<std::shared_ptr<request_context>>& kids);

  static void deliver(callback_entry& entry, cancel_kind kind);

  const std::string id_;
  const clock::time_point deadline_;
  std::atomic<cancel_kind> kind_;
  mutable std::mutex mtx_;
  uint64_t next_token_ = 1;
  std::map<uint64_t, entry_ptr> callbacks_;
  std::vector<std::weak_ptr<request_context>> children_;
  size_t prune_at_ = 8;
};

} // namespace dynamo
