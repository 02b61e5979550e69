#include "dynamo/reference/thread_pool.hpp"

#include <algorithm>
#include <chrono>

namespace dynamo::reference {

namespace {

// How long an idle thread polls for the next job before it sleeps. Consecutive kernels of one
// forward pass follow each other within microseconds; between forward passes threads sleep.
constexpr auto spin_budget = std::chrono::microseconds{100};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls `done` for up to spin_budget; true if it became true.
template <class Pred>
bool spin_until(Pred&& done) {
  auto deadline = std::chrono::steady_clock::now() + spin_budget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done())
        return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
  }
}

} // namespace

thread_pool::thread_pool(uint32_t threads) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  for (uint32_t i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { worker_loop(i); });
}

thread_pool::~thread_pool() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  wake_cv_.notify_all();
  for (auto& w : workers_)
    w.join();
}

void thread_pool::run(size_t n, task_fn fn, void* ctx) {
  if (n == 0)
    return;
  if (workers_.empty() || n == 1) {
    fn(ctx, 0, n);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  pending_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_cv_.notify_all();
  run_chunk(0);
  auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock{mtx_};
    done_cv_.wait(lock, all_done);
  }
}

void thread_pool::run_chunk(uint32_t index) noexcept {
  size_t threads = size();
  size_t begin = n_ * index / threads;
  size_t end = n_ * (index + 1) / threads;
  if (begin < end)
    fn_(ctx_, begin, end);
}

void thread_pool::worker_loop(uint32_t index) {
  uint64_t seen = 0;
  for (;;) {
    auto fresh = [this, &seen] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(fresh)) {
      std::unique_lock<std::mutex> lock{mtx_};
      wake_cv_.wait(lock, [this, &fresh] { return stop_ || fresh(); });
      if (stop_)
        return;
    }
    seen = generation_.load(std::memory_order_acquire);
    run_chunk(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> guard{mtx_};
      done_cv_.notify_one();
    }
  }
}

} // namespace dynamo::reference
