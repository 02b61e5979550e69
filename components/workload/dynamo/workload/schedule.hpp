// When each request of a workload is due: open loop by the workload's times (scaled by a
// speedup), session turns after the previous turn's completion plus think time, or closed
// loop with a fixed number of requests outstanding. Pure logic over seconds since the run
// started: no clock and no I/O, so it is tested with exact times.
#pragma once

#include "dynamo/workload/workload.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <vector>

namespace dynamo::workload {

/// How requests are paced.
struct schedule_config {
  double speedup = 1.0;      ///< Open loop: every time (send times and think times) divided by it.
  uint32_t concurrency = 0;  ///< 0 = open loop; N >= 1 = closed loop with N outstanding.
};

/// A request that became due.
struct due_request {
  size_t index = 0;         ///< Position in workload::requests.
  double intended_s = 0.0;  ///< When it was meant to be sent, seconds since the run started.
};

/// Decides the send order and intended send times of a workload's requests.
///
/// Open loop: a standalone request or the first turn of a session is due at at_s / speedup; a
/// later turn is due at (completion of the previous turn) + at_s / speedup. Due requests are
/// returned in order of intended time, ties by workload position.
///
/// Closed loop: at most `concurrency` requests are outstanding (taken and not completed); the
/// free slots go to the eligible request with the lowest workload position, where a standalone
/// request or first turn is always eligible and a later turn once the previous turn completed
/// (think times are ignored). Its intended time is the time it was taken.
///
/// A turn is released by the completion of the previous one whether that succeeded or failed.
/// Single-threaded; the workload must outlive the schedule.
class dispatch_schedule {
public:
  /// Checks `w` (workload::validate) and `cfg` (speedup finite and > 0). Any thread.
  /// invalid_request naming the problem.
  static caf::expected<dispatch_schedule> make(const workload& w, schedule_config cfg);

  /// Removes and returns the requests due at `now_s`, each exactly once.
  std::vector<due_request> take_due(double now_s);

  /// The earliest time at which take_due() returns something if nothing completes meanwhile:
  /// 0 when something is due right away in closed loop, +infinity when nothing can become due
  /// without a completion.
  double next_due_s() const noexcept;

  /// Marks the request at `index` as completed at `now_s` (taken before; a second completion
  /// is ignored): releases a closed-loop slot and the session's next turn.
  void complete(size_t index, double now_s);

  /// Requests taken and not completed.
  size_t outstanding() const noexcept {
    return outstanding_;
  }

  /// Requests not yet taken (eligible or waiting for their previous turn).
  size_t remaining() const noexcept {
    return total_ - taken_;
  }

  /// True when every request was taken and completed.
  bool finished() const noexcept {
    return taken_ == total_ && outstanding_ == 0;
  }

private:
  static constexpr size_t none = std::numeric_limits<size_t>::max();

  struct entry {
    double key = 0.0;  // intended time (open loop) or position (closed loop)
    size_t index = 0;
    bool operator>(const entry& other) const noexcept {
      return key != other.key ? key > other.key : index > other.index;
    }
  };

  dispatch_schedule(const workload& w, schedule_config cfg);
  void release(size_t index, double now_s);

  const workload* w_;
  schedule_config cfg_;
  std::vector<size_t> next_turn_;  // index of the session's next turn, or none
  std::vector<uint8_t> state_;     // 0 waiting, 1 eligible, 2 taken, 3 completed
  std::priority_queue<entry, std::vector<entry>, std::greater<>> ready_;
  size_t total_ = 0;
  size_t taken_ = 0;
  size_t outstanding_ = 0;
};

} // namespace dynamo::workload
