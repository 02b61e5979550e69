// Lifecycle of long-lived services: a forward-only state machine, and a gate that counts
// in-flight work and refuses new work once closed (as Seastar's gate does).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace dynamo {

/// The states of a service, in the only order they can be entered.
enum class lifecycle_state : uint8_t { created, running, draining, stopped };

/// Stable lower-case name ("created", "running", "draining", "stopped").
std::string_view to_string(lifecycle_state x) noexcept;

/// A thread-safe state machine whose transitions only go forward:
/// created -> running -> draining -> stopped, and any state -> stopped.
class lifecycle {
public:
  lifecycle() = default;
  lifecycle(const lifecycle&) = delete;
  lifecycle& operator=(const lifecycle&) = delete;

  /// created -> running; false in any other state. Any thread.
  bool start();

  /// running -> draining; true only for the first caller, false when not running. Any thread.
  bool begin_drain();

  /// Any state -> stopped; true only for the first caller. Wakes wait_stopped(). Any thread.
  bool finish_stop();

  /// The current state. Any thread.
  lifecycle_state state() const noexcept;

  /// True only while running: the service takes new work. Any thread.
  bool accepting() const noexcept;

  /// Blocks until stopped or timeout; returns whether stopped. For non-actor threads only
  /// (blocking an actor's thread can stall the scheduler that would stop it).
  bool wait_stopped(std::chrono::milliseconds timeout) const;

private:
  bool advance(lifecycle_state from, lifecycle_state to);

  std::atomic<lifecycle_state> state_{lifecycle_state::created};
  mutable std::mutex mtx_;
  mutable std::condition_variable stopped_cv_;
};

/// Counts in-flight work; refuses new work once closed. Entering and leaving are lock-free.
/// The gate must outlive its holders; destroying it with holders alive -> on_internal_error.
class gate {
public:
  /// Membership in a gate: leaves it on destruction. Movable; a moved-from holder is empty.
  class holder {
  public:
    holder(holder&& other) noexcept;
    holder& operator=(holder&& other) noexcept;
    holder(const holder&) = delete;
    holder& operator=(const holder&) = delete;
    ~holder();

    /// Leaves the gate now instead of at destruction (idempotent). Any thread.
    void release() noexcept;

  private:
    friend class gate;
    explicit holder(gate* g) noexcept : gate_(g) {}
    gate* gate_;
  };

  gate() = default;
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  ~gate();

  /// Enters the gate; nullopt once closed. Any thread.
  std::optional<holder> try_enter();

  /// Refuses new entries from now on (idempotent); work already inside continues. Any thread.
  void close();

  /// Whether close() was called. Any thread.
  bool closed() const noexcept;

  /// Number of live holders. Any thread.
  size_t in_flight() const noexcept;

  /// Blocks until in_flight()==0 or timeout; returns whether it drained. Non-actor threads only.
  bool wait_drained(std::chrono::milliseconds timeout) const;

private:
  void leave() noexcept;

  static constexpr uint64_t closed_bit = uint64_t{1} << 63;

  /// The closed flag (top bit) and the number of holders (the other bits), changed together.
  std::atomic<uint64_t> word_{0};
  mutable std::atomic<uint32_t> waiters_{0};
  mutable std::mutex mtx_;
  mutable std::condition_variable drained_cv_;
};

} // namespace dynamo
