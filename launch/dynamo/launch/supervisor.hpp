// Supervises child processes: starts them, restarts one that exits unasked with exponential
// backoff, logs every state change and a periodic summary, and stops them in groups (lower
// groups first) with SIGTERM, then SIGKILL after a bound.
#pragma once

#include "dynamo/process.hpp"
#include "dynamo/log.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace dynamo::launch {

/// Where a supervised child is in its life.
enum class child_state : uint8_t {
  starting,     ///< Spawned less than running_after ago.
  running,      ///< Alive for at least running_after.
  backing_off,  ///< Exited unasked; restarts when its delay has passed.
  stopping,     ///< SIGTERM sent, waiting for it to exit.
  stopped,      ///< Ended after a stop request (or never restarted because of one).
};

/// "starting", "running", "backing off", "stopping", "stopped".
std::string_view to_string(child_state x) noexcept;

/// One child to supervise.
struct child_spec {
  std::string name;       ///< Unique display name ("worker#0").
  process_spec process;   ///< What to run (spawned from the supervisor's own thread).
  size_t stop_group = 0;  ///< Children of lower groups are stopped (and gone) before higher ones.
};

/// Restart delays: `initial`, doubling per crash up to `max`; a child that stayed up for
/// `stable_after` starts again from `initial`.
struct backoff_policy {
  std::chrono::milliseconds initial{500};     ///< Delay after the first crash.
  std::chrono::milliseconds max{10000};       ///< Largest delay.
  std::chrono::milliseconds stable_after{30000}; ///< Uptime that resets the delay.
};

/// A state change, as reported to supervisor_options::on_change.
struct child_event {
  std::string name;                 ///< The child's name.
  child_state state;                ///< Its new state.
  pid_t pid = -1;                   ///< Its pid (of the process that started or ended).
  std::optional<exit_status> exit;  ///< How it ended (backing_off, stopped).
  std::chrono::milliseconds delay{0}; ///< Restart delay (backing_off).
  size_t restarts = 0;              ///< Restarts so far.
  std::chrono::steady_clock::time_point at; ///< When the supervisor saw the change.
};

/// A child's current state, as returned by supervisor::snapshot().
struct child_snapshot {
  std::string name;                      ///< The child's name.
  child_state state = child_state::starting; ///< Its state.
  pid_t pid = -1;                        ///< Its pid, -1 while no process runs.
  size_t restarts = 0;                   ///< Restarts so far.
  std::optional<exit_status> last_exit;  ///< How its last process ended.
};

/// Settings of a supervisor.
struct supervisor_options {
  /// Restart delays.
  backoff_policy backoff;
  /// A child alive this long after its start counts as running.
  std::chrono::milliseconds running_after{1000};
  /// Period of the one-line summary in the log; 0 for none.
  std::chrono::milliseconds summary_interval{30000};
  /// How often the supervisor checks its children.
  std::chrono::milliseconds poll_interval{20};
  /// Logger; empty for default_logger("supervisor").
  logger_ptr log;
  /// Called on the supervisor's thread for every state change, outside its lock.
  std::function<void(const child_event&)> on_change;
};

/// Supervises a fixed set of children from a thread of its own. Thread-safe: any thread may
/// call any member; destroying it kills and reaps the children still running.
class supervisor {
public:
  /// Takes the children (names must be unique) and settings; starts nothing yet.
  supervisor(std::vector<child_spec> children, supervisor_options opts);
  /// force_stop(), then joins the supervisor thread (which reaps the children).
  ~supervisor();

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Starts the supervisor thread, which spawns every child in the given order. Once only.
  void start();

  /// Begins an ordered stop: SIGTERM to the lowest stop group with live children, the next
  /// group once those are gone; SIGKILL to every child still alive `grace` from now. Children
  /// waiting for a restart are not restarted. Non-blocking; later calls are ignored.
  void request_stop(std::chrono::milliseconds grace);

  /// SIGKILLs every live child now (a second Ctrl-C). Implies request_stop.
  void force_stop();

  /// Waits up to `timeout` for the supervisor to finish stopping; true when it has.
  bool wait_stopped(std::chrono::milliseconds timeout);

  /// request_stop(grace), then waits for the end (bounded by grace plus a reaping margin).
  /// Returns clean().
  bool stop(std::chrono::milliseconds grace);

  /// True when every child that was running at the stop request exited with code 0 and none
  /// had to be killed.
  bool clean() const;

  /// The children's current states, in the given order.
  std::vector<child_snapshot> snapshot() const;

  /// One line: "2/3 running: frontend#0 running (pid 7), worker#0 backing off (3 restarts)...".
  std::string summary() const;

private:
  struct child;
  using clock = std::chrono::steady_clock;

  void loop();
  void spawn_locked(child& c, clock::time_point now, std::vector<child_event>& events);
  void check_locked(clock::time_point now, std::vector<child_event>& events);
  void stop_locked(clock::time_point now, std::vector<child_event>& events);
  child_event event_of(const child& c, clock::time_point now) const;
  void set_state(child& c, child_state s, clock::time_point now, std::vector<child_event>& events);
  std::string summary_locked() const;

  supervisor_options opts_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<child> children_;
  bool started_ = false;
  bool stop_requested_ = false;
  bool force_ = false;
  bool done_ = false;
  bool clean_ = true;
  clock::time_point stop_deadline_;
  std::thread thread_;
};

} // namespace dynamo::launch
