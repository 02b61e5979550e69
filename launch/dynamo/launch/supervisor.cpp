#include "dynamo/launch/supervisor.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <set>

namespace dynamo::launch {

std::string_view to_string(child_state x) noexcept {
  switch (x) {
    case child_state::starting:
      return "starting";
    case child_state::running:
      return "running";
    case child_state::backing_off:
      return "backing off";
    case child_state::stopping:
      return "stopping";
    case child_state::stopped:
      return "stopped";
  }
  return "unknown";
}

struct supervisor::child {
  child_spec spec;
  child_state state = child_state::starting;
  pid_t pid = -1;
  size_t restarts = 0;
  std::optional<exit_status> last_exit;
  clock::time_point started_at{};
  clock::time_point restart_at{};
  std::chrono::milliseconds next_delay{0};
  std::chrono::milliseconds delay{0};
  bool ever_started = false;
};

namespace {

std::string uptime_text(std::chrono::steady_clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 10000)
    return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  auto s = ms / 1000;
  if (s < 3600)
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

} // namespace

supervisor::supervisor(std::vector<child_spec> children, supervisor_options opts)
  : opts_(std::move(opts)) {
  if (!opts_.log)
    opts_.log = default_logger("supervisor");
  if (opts_.poll_interval.count() < 1)
    opts_.poll_interval = std::chrono::milliseconds{1};
  std::set<std::string> names;
  for (auto& spec : children) {
    if (!names.insert(spec.name).second)
      on_internal_error(fmt::format("supervisor: child name '{}' is used twice", spec.name));
    child c;
    c.spec = std::move(spec);
    c.next_delay = opts_.backoff.initial;
    children_.push_back(std::move(c));
  }
}

supervisor::~supervisor() {
  force_stop();
  if (thread_.joinable())
    thread_.join();
}

void supervisor::start() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (started_)
      return;
    started_ = true;
    if (stop_requested_) {
      done_ = true;
      return;
    }
  }
  thread_ = std::thread{[this] { loop(); }};
}

void supervisor::request_stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stop_requested_)
      return;
    stop_requested_ = true;
    stop_deadline_ = clock::now() + grace;
    if (!started_)
      done_ = true;
  }
  cv_.notify_all();
}

void supervisor::force_stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stop_requested_)
      stop_deadline_ = clock::now();
    stop_requested_ = true;
    force_ = true;
    if (!started_)
      done_ = true;
  }
  cv_.notify_all();
}

bool supervisor::wait_stopped(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{mtx_};
  return cv_.wait_for(guard, timeout, [this] { return done_; });
}

bool supervisor::stop(std::chrono::milliseconds grace) {
  request_stop(grace);
  // Past the grace every child gets SIGKILL, which ends it at once; the margin covers reaping.
  if (!wait_stopped(grace + std::chrono::seconds{5}))
    opts_.log->error("children still not reaped {} ms after the stop request", grace.count());
  return clean();
}

bool supervisor::clean() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return done_ && clean_;
}

std::vector<child_snapshot> supervisor::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<child_snapshot> result;
  for (const auto& c : children_)
    result.push_back(child_snapshot{c.spec.name, c.state, c.pid, c.restarts, c.last_exit});
  return result;
}

std::string supervisor::summary() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return summary_locked();
}

std::string supervisor::summary_locked() const {
  auto now = clock::now();
  size_t up = 0;
  std::string parts;
  for (const auto& c : children_) {
    if (c.state == child_state::running)
      ++up;
    std::string detail;
    if (c.pid > 0)
      detail = fmt::format("pid {}, up {}", c.pid, uptime_text(now - c.started_at));
    if (c.restarts > 0)
      detail += fmt::format("{}{} restart{}", detail.empty() ? "" : ", ", c.restarts,
                            c.restarts == 1 ? "" : "s");
    if (c.state == child_state::backing_off && c.last_exit)
      detail += fmt::format(", last {}", c.last_exit->to_string());
    parts += fmt::format("{}{} {}{}", parts.empty() ? "" : "; ", c.spec.name, to_string(c.state),
                         detail.empty() ? "" : " (" + detail + ")");
  }
  return fmt::format("{}/{} running: {}", up, children_.size(), parts);
}

child_event supervisor::event_of(const child& c, clock::time_point now) const {
  child_event ev;
  ev.name = c.spec.name;
  ev.state = c.state;
  ev.pid = c.pid;
  ev.exit = c.last_exit;
  ev.delay = c.delay;
  ev.restarts = c.restarts;
  ev.at = now;
  return ev;
}

void supervisor::set_state(child& c, child_state s, clock::time_point now,
                           std::vector<child_event>& events) {
  c.state = s;
  events.push_back(event_of(c, now));
}

void supervisor::spawn_locked(child& c, clock::time_point now, std::vector<child_event>& events) {
  if (c.ever_started)
    ++c.restarts;
  c.ever_started = true;
  c.started_at = now;
  auto pid = spawn_process(c.spec.process);
  if (!pid) {
    // A child that cannot even be spawned backs off like one that crashes at once.
    c.pid = -1;
    c.last_exit.reset();
    c.delay = c.next_delay;
    c.next_delay = std::min(c.next_delay * 2, opts_.backoff.max);
    c.restart_at = now + c.delay;
    opts_.log->error("{} could not be started: {}; retrying in {} ms", c.spec.name,
                     describe(pid.error()), c.delay.count());
    set_state(c, child_state::backing_off, now, events);
    return;
  }
  c.pid = *pid;
  c.delay = std::chrono::milliseconds{0};
  opts_.log->info("{} starting (pid {}{})", c.spec.name, c.pid,
                  c.restarts > 0 ? fmt::format(", restart {}", c.restarts) : std::string{});
  set_state(c, child_state::starting, now, events);
}

void supervisor::check_locked(clock::time_point now, std::vector<child_event>& events) {
  for (auto& c : children_) {
    if (c.pid > 0) {
      auto status = try_reap(c.pid);
      if (!status) {
        if (c.state == child_state::starting && now - c.started_at >= opts_.running_after) {
          opts_.log->info("{} running (pid {})", c.spec.name, c.pid);
          set_state(c, child_state::running, now, events);
        }
        continue;
      }
      auto uptime = now - c.started_at;
      c.last_exit = *status;
      if (uptime >= opts_.backoff.stable_after)
        c.next_delay = opts_.backoff.initial;
      c.delay = c.next_delay;
      c.next_delay = std::min(c.next_delay * 2, opts_.backoff.max);
      c.restart_at = now + c.delay;
      opts_.log->warn("{} (pid {}) {} after {}; restarting in {} ms", c.spec.name, c.pid,
                      status->to_string(), uptime_text(uptime), c.delay.count());
      set_state(c, child_state::backing_off, now, events);
      c.pid = -1;
      continue;
    }
    if (c.state == child_state::backing_off && now >= c.restart_at)
      spawn_locked(c, now, events);
  }
}

void supervisor::stop_locked(clock::time_point now, std::vector<child_event>& events) {
  // Reap what has ended.
  for (auto& c : children_) {
    if (c.pid <= 0) {
      if (c.state != child_state::stopped) {
        opts_.log->info("{} stopped (was {})", c.spec.name, to_string(c.state));
        c.delay = std::chrono::milliseconds{0};
        set_state(c, child_state::stopped, now, events);
      }
      continue;
    }
    auto status = try_reap(c.pid);
    if (!status)
      continue;
    c.last_exit = *status;
    if (c.state != child_state::stopping || !status->success())
      clean_ = false;
    auto level = c.state == child_state::stopping && status->success() ? spdlog::level::info
                                                                       : spdlog::level::warn;
    opts_.log->log(level, "{} (pid {}) stopped: {}", c.spec.name, c.pid, status->to_string());
    set_state(c, child_state::stopped, now, events);
    c.pid = -1;
  }
  if (force_ || now >= stop_deadline_) {
    for (auto& c : children_)
      if (c.pid > 0) {
        opts_.log->warn("{} (pid {}) {}: SIGKILL", c.spec.name, c.pid,
                        force_ ? "forced stop" : "did not stop in time");
        ::kill(c.pid, SIGKILL);
        clean_ = false;
      }
    return;
  }
  // SIGTERM the lowest group that still has live children.
  std::optional<size_t> group;
  for (const auto& c : children_)
    if (c.pid > 0 && (!group || c.spec.stop_group < *group))
      group = c.spec.stop_group;
  if (!group)
    return;
  for (auto& c : children_)
    if (c.pid > 0 && c.spec.stop_group == *group && c.state != child_state::stopping) {
      opts_.log->info("{} (pid {}) stopping: SIGTERM", c.spec.name, c.pid);
      ::kill(c.pid, SIGTERM);
      set_state(c, child_state::stopping, now, events);
    }
}

void supervisor::loop() {
  auto next_summary = clock::now() + opts_.summary_interval;
  {
    std::vector<child_event> events;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto now = clock::now();
      if (!stop_requested_)
        for (auto& c : children_)
          spawn_locked(c, now, events);
    }
    if (opts_.on_change)
      for (const auto& ev : events)
        opts_.on_change(ev);
  }
  while (true) {
    std::vector<child_event> events;
    bool finished = false;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      auto now = clock::now();
      if (stop_requested_) {
        stop_locked(now, events);
        finished = std::all_of(children_.begin(), children_.end(),
                               [](const child& c) { return c.pid <= 0; });
      } else {
        check_locked(now, events);
        if (opts_.summary_interval.count() > 0 && now >= next_summary) {
          opts_.log->info("{}", summary_locked());
          next_summary = now + opts_.summary_interval;
        }
      }
    }
    if (opts_.on_change)
      for (const auto& ev : events)
        opts_.on_change(ev);
    std::unique_lock<std::mutex> guard{mtx_};
    if (finished) {
      done_ = true;
      guard.unlock();
      cv_.notify_all();
      return;
    }
    // Wake up early only for a new stop request or a forced stop.
    cv_.wait_for(guard, opts_.poll_interval,
                 [this, was_stopping = stop_requested_, was_forced = force_] {
                   return stop_requested_ != was_stopping || force_ != was_forced;
                 });
  }
}

} // namespace dynamo::launch
