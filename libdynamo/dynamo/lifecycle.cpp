#include "dynamo/lifecycle.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace dynamo {

std::string_view to_string(lifecycle_state x) noexcept {
  switch (x) {
    case lifecycle_state::created:
      return "created";
    case lifecycle_state::running:
      return "running";
    case lifecycle_state::draining:
      return "draining";
    case lifecycle_state::stopped:
      return "stopped";
  }
  return "invalid";
}

// -- lifecycle ------------------------------------------------------------------------------

bool lifecycle::advance(lifecycle_state from, lifecycle_state to) {
  return state_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
}

bool lifecycle::start() {
  return advance(lifecycle_state::created, lifecycle_state::running);
}

bool lifecycle::begin_drain() {
  return advance(lifecycle_state::running, lifecycle_state::draining);
}

bool lifecycle::finish_stop() {
  lifecycle_state prev;
  {
    // Changing the state under the mutex keeps wait_stopped() from missing the wake-up.
    std::lock_guard guard{mtx_};
    prev = state_.exchange(lifecycle_state::stopped, std::memory_order_acq_rel);
  }
  if (prev == lifecycle_state::stopped)
    return false;
  stopped_cv_.notify_all();
  return true;
}

lifecycle_state lifecycle::state() const noexcept {
  return state_.load(std::memory_order_acquire);
}

bool lifecycle::accepting() const noexcept {
  return state() == lifecycle_state::running;
}

bool lifecycle::wait_stopped(std::chrono::milliseconds timeout) const {
  std::unique_lock lock{mtx_};
  return stopped_cv_.wait_for(lock, std::max(timeout, std::chrono::milliseconds{0}),
                              [this] { return state() == lifecycle_state::stopped; });
}

// -- gate -----------------------------------------------------------------------------------

gate::holder::holder(holder&& other) noexcept : gate_(std::exchange(other.gate_, nullptr)) {
  // nop
}

gate::holder& gate::holder::operator=(holder&& other) noexcept {
  if (this != &other) {
    release();
    gate_ = std::exchange(other.gate_, nullptr);
  }
  return *this;
}

gate::holder::~holder() {
  release();
}

void gate::holder::release() noexcept {
  if (auto* g = std::exchange(gate_, nullptr))
    g->leave();
}

gate::~gate() {
  if (auto n = in_flight(); n != 0)
    on_internal_error(fmt::format("gate destroyed with {} holder(s) still inside", n));
}

std::optional<gate::holder> gate::try_enter() {
  auto word = word_.load();
  do {
    if ((word & closed_bit) != 0)
      return std::nullopt;
  } while (!word_.compare_exchange_weak(word, word + 1));
  return holder{this};
}

void gate::close() {
  word_.fetch_or(closed_bit);
}

bool gate::closed() const noexcept {
  return (word_.load() & closed_bit) != 0;
}

size_t gate::in_flight() const noexcept {
  return static_cast<size_t>(word_.load() & ~closed_bit);
}

void gate::leave() noexcept {
  auto prev = word_.fetch_sub(1);
  if ((prev & ~closed_bit) != 1)
    return;
  // Sequentially consistent pairing with wait_drained(): either we see its waiter count, or it
  // sees our decrement before it sleeps.
  if (waiters_.load() == 0)
    return;
  { std::lock_guard guard{mtx_}; }
  drained_cv_.notify_all();
}

bool gate::wait_drained(std::chrono::milliseconds timeout) const {
  if (in_flight() == 0)
    return true;
  std::unique_lock lock{mtx_};
  waiters_.fetch_add(1);
  auto drained = drained_cv_.wait_for(lock, std::max(timeout, std::chrono::milliseconds{0}),
                                      [this] { return in_flight() == 0; });
  waiters_.fetch_sub(1);
  return drained;
}

} // namespace dynamo
