#include "dynamo/lifecycle.hpp"

#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

/// Runs `fn` on `n` threads released together; returns how many calls returned true.
template <class F>
int race(int n, F fn) {
  std::atomic<bool> go{false};
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&go, &wins, &fn] {
      while (!go.load())
        std::this_thread::yield();
      if (fn())
        ++wins;
    });
  go = true;
  for (auto& t : threads)
    t.join();
  return wins.load();
}

TEST(lifecycle, transitions_only_forward) {
  lifecycle lc;
  EXPECT_EQ(lc.state(), lifecycle_state::created);
  EXPECT_FALSE(lc.accepting());
  EXPECT_FALSE(lc.begin_drain()); // not running yet
  EXPECT_TRUE(lc.start());
  EXPECT_FALSE(lc.start());
  EXPECT_TRUE(lc.accepting());
  EXPECT_TRUE(lc.begin_drain());
  EXPECT_FALSE(lc.accepting());
  EXPECT_EQ(lc.state(), lifecycle_state::draining);
  EXPECT_FALSE(lc.start());
  EXPECT_FALSE(lc.begin_drain());
  EXPECT_TRUE(lc.finish_stop());
  EXPECT_FALSE(lc.finish_stop());
  EXPECT_EQ(lc.state(), lifecycle_state::stopped);
  EXPECT_FALSE(lc.start());
  EXPECT_FALSE(lc.begin_drain());
}

TEST(lifecycle, stop_is_reachable_from_any_state) {
  lifecycle fresh;
  EXPECT_TRUE(fresh.finish_stop());
  EXPECT_FALSE(fresh.start());
  lifecycle running;
  ASSERT_TRUE(running.start());
  EXPECT_TRUE(running.finish_stop());
  EXPECT_FALSE(running.begin_drain());
}

TEST(lifecycle, state_names) {
  EXPECT_EQ(to_string(lifecycle_state::created), "created");
  EXPECT_EQ(to_string(lifecycle_state::running), "running");
  EXPECT_EQ(to_string(lifecycle_state::draining), "draining");
  EXPECT_EQ(to_string(lifecycle_state::stopped), "stopped");
}

TEST(lifecycle, exactly_one_concurrent_caller_wins_each_transition) {
  for (int round = 0; round < 20; ++round) {
    lifecycle lc;
    EXPECT_EQ(race(8, [&lc] { return lc.start(); }), 1);
    EXPECT_EQ(race(8, [&lc] { return lc.begin_drain(); }), 1);
    EXPECT_EQ(race(8, [&lc] { return lc.finish_stop(); }), 1);
    EXPECT_EQ(lc.state(), lifecycle_state::stopped);
  }
}

TEST(lifecycle, concurrent_drain_and_stop_each_have_one_winner) {
  for (int round = 0; round < 20; ++round) {
    lifecycle lc;
    ASSERT_TRUE(lc.start());
    std::atomic<int> drains{0};
    std::atomic<int> stops{0};
    race(8, [&lc, &drains, &stops] {
      if (lc.begin_drain())
        ++drains;
      if (lc.finish_stop())
        ++stops;
      return true;
    });
    EXPECT_LE(drains.load(), 1); // a stop may overtake every drain
    EXPECT_EQ(stops.load(), 1);
  }
}

TEST(lifecycle, wait_stopped_times_out_then_wakes_on_stop) {
  lifecycle lc;
  ASSERT_TRUE(lc.start());
  auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(lc.wait_stopped(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - before, 30ms);
  std::atomic<bool> woke{false};
  std::thread waiter{[&lc, &woke] { woke = lc.wait_stopped(10s); }};
  lc.finish_stop();
  waiter.join();
  EXPECT_TRUE(woke.load());
  EXPECT_TRUE(lc.wait_stopped(0ms));
}

TEST(gate, counts_holders_and_refuses_after_close) {
  gate g;
  EXPECT_FALSE(g.closed());
  auto a = g.try_enter();
  auto b = g.try_enter();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(g.in_flight(), 2u);
  g.close();
  g.close(); // idempotent
  EXPECT_TRUE(g.closed());
  EXPECT_FALSE(g.try_enter().has_value());
  EXPECT_EQ(g.in_flight(), 2u); // work inside continues
  a.reset();
  EXPECT_EQ(g.in_flight(), 1u);
  b->release();
  b->release(); // idempotent
  EXPECT_EQ(g.in_flight(), 0u);
  EXPECT_FALSE(g.try_enter().has_value());
}

TEST(gate, holders_move_without_leaving_twice) {
  gate g;
  auto h = g.try_enter();
  ASSERT_TRUE(h);
  gate::holder moved{std::move(*h)};
  h.reset(); // the moved-from holder leaves nothing
  EXPECT_EQ(g.in_flight(), 1u);
  auto other = g.try_enter();
  ASSERT_TRUE(other);
  EXPECT_EQ(g.in_flight(), 2u);
  moved = std::move(*other); // leaves its own membership, takes the other one
  EXPECT_EQ(g.in_flight(), 1u);
  moved.release();
  EXPECT_EQ(g.in_flight(), 0u);
}

TEST(gate, wait_drained_returns_at_once_when_empty) {
  gate g;
  EXPECT_TRUE(g.wait_drained(0ms));
  g.close();
  EXPECT_TRUE(g.wait_drained(0ms));
}

TEST(gate, wait_drained_times_out_while_work_is_inside) {
  gate g;
  auto h = g.try_enter();
  g.close();
  auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(g.wait_drained(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - before, 30ms);
  h.reset();
  EXPECT_TRUE(g.wait_drained(0ms));
}

TEST(gate, wait_drained_wakes_when_the_last_holder_leaves_another_thread) {
  gate g;
  std::vector<gate::holder> holders;
  for (int i = 0; i < 4; ++i)
    holders.push_back(std::move(*g.try_enter()));
  g.close();
  std::atomic<bool> waiting{false};
  std::atomic<bool> drained{false};
  std::thread waiter{[&g, &waiting, &drained] {
    waiting = true;
    drained = g.wait_drained(10s);
  }};
  ASSERT_TRUE(testing::wait_until([&waiting] { return waiting.load(); }, 5s))
    << "waiter thread did not start";
  std::thread leaver{[hs = std::move(holders)]() mutable { hs.clear(); }};
  leaver.join();
  waiter.join();
  EXPECT_TRUE(drained.load());
}

TEST(gate, no_entry_succeeds_after_close_returns_under_contention) {
  for (int round = 0; round < 10; ++round) {
    gate g;
    std::atomic<bool> closed_now{false};
    std::atomic<int> late_entries{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t)
      workers.emplace_back([&g, &closed_now, &late_entries, &go] {
        while (!go.load())
          std::this_thread::yield();
        for (int i = 0; i < 2000; ++i) {
          bool was_closed = closed_now.load();
          if (auto h = g.try_enter(); h && was_closed)
            ++late_entries;
        }
      });
    go = true;
    g.close();
    closed_now = true;
    for (auto& w : workers)
      w.join();
    EXPECT_EQ(late_entries.load(), 0);
    EXPECT_EQ(g.in_flight(), 0u);
    EXPECT_TRUE(g.wait_drained(0ms));
  }
}

} // namespace
} // namespace dynamo
