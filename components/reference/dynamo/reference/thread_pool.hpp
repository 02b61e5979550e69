// A fixed pool of compute threads for the reference engine's kernels: the calling thread plus
// N-1 workers run one parallel_for at a time with static chunking. Idle workers spin briefly,
// then sleep on a condition variable, so an idle pool costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace dynamo::reference {

/// Compute threads. parallel_for may be called by one thread at a time (the owner); the
/// callable must not throw.
class thread_pool {
public:
  /// Starts `threads - 1` workers (`threads` = 0 means one per online CPU). The caller of
  /// parallel_for is the remaining thread.
  explicit thread_pool(uint32_t threads);

  /// Wakes and joins the workers. Owner thread only, never during a parallel_for.
  ~thread_pool();

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Number of threads taking part in a parallel_for (workers + the caller).
  uint32_t size() const noexcept { return static_cast<uint32_t>(workers_.size()) + 1; }

  /// Splits [0, n) into size() contiguous chunks of near-equal length and calls
  /// fn(begin, end) once for each non-empty chunk, in parallel; returns when all are done.
  /// Owner thread only. `fn` must not throw.
  template <class F>
  void parallel_for(size_t n, F&& fn) {
    using fn_type = std::remove_reference_t<F>;
    run(n, [](void* ctx, size_t begin, size_t end) { (*static_cast<fn_type*>(ctx))(begin, end); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

private:
  using task_fn = void (*)(void* ctx, size_t begin, size_t end);

  void run(size_t n, task_fn fn, void* ctx);
  void worker_loop(uint32_t index);
  void run_chunk(uint32_t index) noexcept;

  std::vector<std::thread> workers_;
  std::mutex mtx_;
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint32_t> pending_{0};
  bool stop_ = false;  // Guarded by mtx_.
  // The current job; written by the owner before generation_ is bumped (release).
  task_fn fn_ = nullptr;
  void* ctx_ = nullptr;
  size_t n_ = 0;
};

} // namespace dynamo::reference
