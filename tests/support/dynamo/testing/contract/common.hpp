// Helpers shared by the plane contract suites: thread-safe recording of callback arguments and
// per-test name scoping, so that suites also run against a shared external backend (one
// nats-server for a whole test executable).
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace dynamo::testing::contract {

using namespace std::chrono_literals;

/// A short random lower-case hex token, unique enough to keep concurrent tests apart.
inline std::string unique_token() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  auto x = gen();
  for (int i = 0; i < 10; ++i, x >>= 4)
    result += digits[x & 0xf];
  return result;
}

/// Success for a default error; otherwise a failure carrying describe(err).
inline ::testing::AssertionResult ok(const caf::error& err) {
  if (!err)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << describe(err);
}

/// Success for a value; otherwise a failure carrying describe(error).
template <class T>
::testing::AssertionResult ok(const caf::expected<T>& x) {
  if (x)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << describe(x.error());
}

/// Records values handed to a callback on any thread, with their arrival time; waits are
/// bounded. Thread-safe. Held by shared_ptr: callbacks keep it alive, so a test that fails
/// early cannot leave a backend calling into a destroyed recorder.
template <class T>
class recorder : public std::enable_shared_from_this<recorder<T>> {
public:
  using clock_type = std::chrono::steady_clock;

  /// A callback that appends its argument (and keeps the recorder alive).
  std::function<void(const T&)> callback() {
    return [self = this->shared_from_this()](const T& x) { self->add(x); };
  }

  /// Appends `x`.
  void add(const T& x) {
    {
      std::lock_guard guard{mu_};
      items_.push_back(x);
      times_.push_back(clock_type::now());
    }
    cv_.notify_all();
  }

  /// A copy of everything recorded so far.
  std::vector<T> items() const {
    std::lock_guard guard{mu_};
    return items_;
  }

  /// Number of recorded values.
  size_t size() const {
    std::lock_guard guard{mu_};
    return items_.size();
  }

  /// Waits until at least `n` values arrived; returns whether they did within `timeout`.
  bool wait_for_size(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lk{mu_};
    return cv_.wait_for(lk, timeout, [this, n] { return items_.size() >= n; });
  }

  /// Waits for a value satisfying `pred`; returns its index, or -1 after `timeout`.
  long wait_for_match(const std::function<bool(const T&)>& pred,
                      std::chrono::milliseconds timeout) const {
    std::unique_lock lk{mu_};
    long found = -1;
    cv_.wait_for(lk, timeout, [this, &pred, &found] {
      for (size_t i = 0; i < items_.size(); ++i) {
        if (pred(items_[i])) {
          found = static_cast<long>(i);
          return true;
        }
      }
      return false;
    });
    return found;
  }

  /// Arrival time of value `i` (which must exist).
  clock_type::time_point time_of(size_t i) const {
    std::lock_guard guard{mu_};
    return times_.at(i);
  }

private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<T> items_;
  std::vector<clock_type::time_point> times_;
};

/// A gate that callbacks can block on until the test opens it (bounded, so that a broken
/// backend fails the test instead of hanging it). Thread-safe; hold it by shared_ptr when
/// callbacks use it.
class gate {
public:
  /// Blocks until open() or `timeout`; returns whether it was opened.
  bool pass(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lk{mu_};
    ++waiting_;
    cv_.notify_all();
    return cv_.wait_for(lk, timeout, [this] { return open_; });
  }

  /// Lets every current and future pass() through.
  void open() {
    {
      std::lock_guard guard{mu_};
      open_ = true;
    }
    cv_.notify_all();
  }

  /// Waits until someone is blocked in pass(); returns whether that happened in time.
  bool wait_for_waiter(std::chrono::milliseconds timeout) {
    std::unique_lock lk{mu_};
    return cv_.wait_for(lk, timeout, [this] { return waiting_ > 0; });
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t waiting_ = 0;
  bool open_ = false;
};

} // namespace dynamo::testing::contract
