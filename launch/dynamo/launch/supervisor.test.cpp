#include "dynamo/launch/supervisor.hpp"

#include "dynamo/testing/wait.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace dynamo::launch {
namespace {

using namespace std::chrono_literals;

/// Records the supervisor's events; thread-safe.
class recorder {
public:
  std::function<void(const child_event&)> callback() {
    return [this](const child_event& ev) {
      std::lock_guard<std::mutex> guard{mtx_};
      events_.push_back(ev);
    };
  }
  std::vector<child_event> events() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return events_;
  }
  /// Events of `name` in state `state`.
  std::vector<child_event> of(const std::string& name, child_state state) const {
    std::vector<child_event> result;
    for (const auto& ev : events())
      if (ev.name == name && ev.state == state)
        result.push_back(ev);
    return result;
  }
  /// "name:state" for every event, in order.
  std::vector<std::string> trace() const {
    std::vector<std::string> result;
    for (const auto& ev : events())
      result.push_back(ev.name + ":" + std::string{to_string(ev.state)});
    return result;
  }

private:
  mutable std::mutex mtx_;
  std::vector<child_event> events_;
};

child_spec shell_child(std::string name, std::string script, size_t group = 0) {
  child_spec c;
  c.name = std::move(name);
  c.process.argv = {"/bin/sh", "-c", std::move(script)};
  c.process.env = {"PATH=/usr/bin:/bin"};
  c.stop_group = group;
  return c;
}

/// A child that exits 0 promptly on SIGTERM.
constexpr const char* polite = "trap 'exit 0' TERM; while :; do sleep 0.02; done";

supervisor_options fast_options(recorder& rec) {
  supervisor_options opts;
  opts.backoff.initial = 40ms;
  opts.backoff.max = 160ms;
  opts.backoff.stable_after = 10s;
  opts.running_after = 100ms;
  opts.summary_interval = 0ms;
  opts.poll_interval = 5ms;
  opts.on_change = rec.callback();
  return opts;
}

TEST(supervisor, restarts_a_crashing_child_with_doubling_delays_up_to_the_max) {
  recorder rec;
  supervisor sup{{shell_child("crasher", "exit 3")}, fast_options(rec)};
  auto t0 = std::chrono::steady_clock::now();
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return rec.of("crasher", child_state::backing_off).size() >= 5; }, 10s))
    << "timed out after 10 s waiting for five crashes";
  auto backoffs = rec.of("crasher", child_state::backing_off);
  std::vector<long> delays;
  for (size_t i = 0; i < 5; ++i) {
    delays.push_back(static_cast<long>(backoffs[i].delay.count()));
    ASSERT_TRUE(backoffs[i].exit);
    EXPECT_EQ(backoffs[i].exit->code, 3);
  }
  EXPECT_THAT(delays, ::testing::ElementsAre(40, 80, 160, 160, 160));
  // The fifth crash cannot come before the sum of the first four delays: no hot loop.
  EXPECT_GE(backoffs[4].at - t0, 440ms);
  EXPECT_GE(backoffs[4].restarts, 4u);
  EXPECT_TRUE(sup.stop(1s)) << "nothing was running at the stop";
  auto snap = sup.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].state, child_state::stopped);
  EXPECT_EQ(snap[0].pid, -1);
}

TEST(supervisor, a_child_that_stayed_up_long_enough_restarts_after_the_initial_delay) {
  recorder rec;
  auto opts = fast_options(rec);
  opts.backoff.stable_after = 150ms;
  supervisor sup{{shell_child("flaky", "sleep 0.25; exit 1")}, opts};
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return rec.of("flaky", child_state::backing_off).size() >= 3; }, 10s))
    << "timed out after 10 s waiting for three exits";
  for (const auto& ev : rec.of("flaky", child_state::backing_off))
    EXPECT_EQ(ev.delay, 40ms) << "each run lasted longer than stable_after";
  EXPECT_FALSE(rec.of("flaky", child_state::running).empty())
    << "a child alive for running_after is reported running";
  sup.stop(1s);
}

TEST(supervisor, a_program_that_cannot_start_backs_off_too) {
  recorder rec;
  child_spec missing;
  missing.name = "ghost";
  missing.process.argv = {"dynamo-no-such-program"};
  missing.process.env = {"PATH=/usr/bin:/bin"};
  supervisor sup{{missing}, fast_options(rec)};
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return rec.of("ghost", child_state::backing_off).size() >= 3; }, 10s))
    << "timed out after 10 s waiting for three failed starts";
  auto backoffs = rec.of("ghost", child_state::backing_off);
  EXPECT_EQ(backoffs[0].delay, 40ms);
  EXPECT_EQ(backoffs[1].delay, 80ms);
  EXPECT_FALSE(backoffs[0].exit) << "it never ran, so there is no exit status";
  sup.stop(1s);
}

TEST(supervisor, stops_groups_in_order_and_reports_clean) {
  recorder rec;
  supervisor sup{{shell_child("worker", polite, 2), shell_child("frontend", polite, 0),
                  shell_child("router", polite, 1)},
                 fast_options(rec)};
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&sup] {
      auto snap = sup.snapshot();
      return std::all_of(snap.begin(), snap.end(),
                         [](const child_snapshot& c) { return c.state == child_state::running; });
    },
    10s))
    << "timed out after 10 s waiting for three running children: " << sup.summary();
  auto line = sup.summary();
  EXPECT_NE(line.find("3/3 running"), std::string::npos) << line;
  EXPECT_NE(line.find("router running (pid "), std::string::npos) << line;
  EXPECT_TRUE(sup.stop(5s)) << sup.summary();
  std::vector<std::string> stop_trace;
  for (const auto& t : rec.trace())
    if (t.ends_with(":stopping") || t.ends_with(":stopped"))
      stop_trace.push_back(t);
  EXPECT_THAT(stop_trace,
              ::testing::ElementsAre("frontend:stopping", "frontend:stopped", "router:stopping",
                                     "router:stopped", "worker:stopping", "worker:stopped"));
  for (const auto& c : sup.snapshot()) {
    EXPECT_EQ(c.state, child_state::stopped);
    ASSERT_TRUE(c.last_exit);
    EXPECT_TRUE(c.last_exit->success()) << c.name << " " << c.last_exit->to_string();
  }
}

TEST(supervisor, a_child_ignoring_sigterm_is_killed_after_the_grace) {
  recorder rec;
  supervisor sup{{shell_child("stubborn", "trap '' TERM; while :; do sleep 0.02; done"),
                  shell_child("plain", "exec sleep 30")},
                 fast_options(rec)};
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return rec.of("stubborn", child_state::running).size() == 1
                    && rec.of("plain", child_state::running).size() == 1; },
    10s))
    << "timed out after 10 s waiting for both children to run";
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(sup.stop(300ms)) << "a killed child is not a clean stop";
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);
  auto snap = sup.snapshot();
  ASSERT_TRUE(snap[0].last_exit);
  EXPECT_TRUE(snap[0].last_exit->signaled);
  EXPECT_EQ(snap[0].last_exit->signal, SIGKILL);
  ASSERT_TRUE(snap[1].last_exit);
  EXPECT_EQ(snap[1].last_exit->signal, SIGTERM) << "SIGTERM came first for the plain child";
}

TEST(supervisor, force_stop_kills_at_once) {
  recorder rec;
  supervisor sup{{shell_child("stubborn", "trap '' TERM; while :; do sleep 0.02; done")},
                 fast_options(rec)};
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return !rec.of("stubborn", child_state::running).empty(); }, 10s))
    << "timed out after 10 s waiting for the child to run";
  sup.request_stop(30s);
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return !rec.of("stubborn", child_state::stopping).empty(); }, 5s))
    << "timed out after 5 s waiting for SIGTERM to be sent";
  auto t0 = std::chrono::steady_clock::now();
  sup.force_stop();
  EXPECT_TRUE(sup.wait_stopped(5s)) << "timed out after 5 s waiting for the forced stop";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_FALSE(sup.clean());
}

TEST(supervisor, a_child_backing_off_at_the_stop_is_not_restarted) {
  recorder rec;
  auto opts = fast_options(rec);
  opts.backoff.initial = 2s;
  opts.backoff.max = 2s;
  supervisor sup{{shell_child("crasher", "exit 1")}, opts};
  sup.start();
  ASSERT_TRUE(testing::wait_until(
    [&rec] { return !rec.of("crasher", child_state::backing_off).empty(); }, 5s))
    << "timed out after 5 s waiting for the crash";
  EXPECT_TRUE(sup.stop(1s));
  EXPECT_EQ(rec.of("crasher", child_state::starting).size(), 1u);
  EXPECT_EQ(rec.of("crasher", child_state::stopped).size(), 1u);
}

TEST(supervisor, destruction_kills_and_reaps_the_children) {
  recorder rec;
  pid_t pid = -1;
  {
    supervisor sup{{shell_child("sleeper", "exec sleep 30")}, fast_options(rec)};
    sup.start();
    ASSERT_TRUE(testing::wait_until([&sup] { return sup.snapshot()[0].pid > 0; }, 5s))
      << "timed out after 5 s waiting for the child to start";
    pid = sup.snapshot()[0].pid;
  }
  EXPECT_NE(::kill(pid, 0), 0) << "pid " << pid << " must be gone (killed and reaped)";
}

TEST(supervisor, a_stop_before_start_starts_nothing) {
  recorder rec;
  supervisor sup{{shell_child("never", "exec sleep 30")}, fast_options(rec)};
  EXPECT_TRUE(sup.stop(1s));
  sup.start();
  EXPECT_TRUE(sup.wait_stopped(0ms));
  EXPECT_TRUE(rec.events().empty());
}

} // namespace
} // namespace dynamo::launch
