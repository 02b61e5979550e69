#include "dynamo/reference/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace dynamo::reference {
namespace {

// Runs parallel_for(n) and returns the chunks it was called with, sorted.
std::vector<std::pair<size_t, size_t>> chunks_of(thread_pool& pool, size_t n) {
  std::mutex mtx;
  std::vector<std::pair<size_t, size_t>> out;
  pool.parallel_for(n, [&mtx, &out](size_t begin, size_t end) {
    std::lock_guard<std::mutex> guard{mtx};
    out.emplace_back(begin, end);
  });
  std::sort(out.begin(), out.end());
  return out;
}

TEST(thread_pool, size_counts_the_caller) {
  EXPECT_EQ(thread_pool{1}.size(), 1u);
  EXPECT_EQ(thread_pool{3}.size(), 3u);
  EXPECT_GE(thread_pool{0}.size(), 1u);
}

TEST(thread_pool, chunks_cover_the_range_exactly_once) {
  thread_pool pool{3};
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{1000}}) {
    auto chunks = chunks_of(pool, n);
    size_t next = 0;
    for (auto [begin, end] : chunks) {
      EXPECT_EQ(begin, next) << "n = " << n;
      EXPECT_LT(begin, end) << "empty chunk for n = " << n;
      next = end;
    }
    EXPECT_EQ(next, n);
    EXPECT_LE(chunks.size(), pool.size());
  }
}

TEST(thread_pool, chunks_are_balanced) {
  thread_pool pool{4};
  auto chunks = chunks_of(pool, 10);
  ASSERT_EQ(chunks.size(), 4u);
  for (auto [begin, end] : chunks) {
    EXPECT_GE(end - begin, 2u);
    EXPECT_LE(end - begin, 3u);
  }
}

TEST(thread_pool, work_runs_on_several_threads) {
  thread_pool pool{2};
  std::mutex mtx;
  std::set<std::thread::id> ids;
  // Each chunk waits (bounded) until both chunks have started: proves they run concurrently.
  std::atomic<int> started{0};
  pool.parallel_for(2, [&](size_t, size_t) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ids.insert(std::this_thread::get_id());
    }
    started.fetch_add(1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  });
  EXPECT_EQ(started.load(), 2);
  EXPECT_EQ(ids.size(), 2u) << "expected the two chunks on two threads";
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 1u) << "the caller takes part";
}

TEST(thread_pool, many_consecutive_jobs_including_after_sleeping) {
  thread_pool pool{3};
  std::atomic<size_t> sum{0};
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(30, [&sum](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i)
        sum.fetch_add(i, std::memory_order_relaxed);
    });
    if (round == 1000)  // Let the workers fall asleep once, then wake them again.
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  EXPECT_EQ(sum.load(), 2000u * (29u * 30u / 2u));
}

TEST(thread_pool, single_thread_pool_runs_inline) {
  thread_pool pool{1};
  std::thread::id ran_on;
  pool.parallel_for(5, [&ran_on](size_t begin, size_t end) {
    EXPECT_EQ(begin, 0u);
    EXPECT_EQ(end, 5u);
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

} // namespace
} // namespace dynamo::reference
