#include "dynamo/kv_router/decision_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <limits>
#include <numeric>

namespace dynamo::kv_router {
namespace {

using namespace std::chrono_literals;
using clock_type = decision_log::clock;
using depth_map = std::map<worker_key, uint32_t>;

depth_map depths(const prefix_index& index, const std::vector<uint64_t>& query) {
  depth_map out;
  for (const auto& o : index.find_matches(query).overlaps)
    out[o.worker] = o.blocks;
  return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v(to - from);
  std::iota(v.begin(), v.end(), from);
  return v;
}

const clock_type::time_point t0 = clock_type::time_point{} + 1h;

TEST(decision_log, entries_expire_ttl_after_their_record) {
  prefix_index index;
  decision_log log{index, 100ms};
  log.record(1, range(1, 4), t0);
  log.record(2, range(1, 3), t0 + 10ms);
  EXPECT_EQ(log.size(), 5u);
  EXPECT_EQ(depths(index, range(1, 4)), (depth_map{{1, 3}, {2, 2}}));
  EXPECT_EQ(log.expire(t0 + 99ms), 0u);
  EXPECT_EQ(log.expire(t0 + 100ms), 3u);
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(depths(index, range(1, 4)), (depth_map{{2, 2}}));
  EXPECT_EQ(log.expire(t0 + 110ms), 2u);
  EXPECT_EQ(log.size(), 0u);
  EXPECT_EQ(index.stats().entries, 0u);
  EXPECT_EQ(log.expire(t0 + 1h), 0u);
}

TEST(decision_log, recording_again_refreshes_the_ttl) {
  prefix_index index;
  decision_log log{index, 100ms};
  log.record(1, range(1, 4), t0);
  log.record(1, range(1, 3), t0 + 50ms);
  EXPECT_EQ(log.size(), 3u);
  EXPECT_EQ(log.expire(t0 + 100ms), 1u);  // only hash 3 was not refreshed
  EXPECT_EQ(depths(index, range(1, 4)), (depth_map{{1, 2}}));
  EXPECT_EQ(log.expire(t0 + 149ms), 0u);
  EXPECT_EQ(log.expire(t0 + 150ms), 2u);
  EXPECT_EQ(index.stats().entries, 0u);
}

TEST(decision_log, duplicates_and_same_instant_records_count_once) {
  prefix_index index;
  decision_log log{index, 10ms};
  const std::vector<uint64_t> dup{5, 5, 6};
  log.record(1, dup, t0);
  log.record(1, dup, t0);
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(log.expire(t0 + 10ms), 2u);
  EXPECT_EQ(log.size(), 0u);
}

TEST(decision_log, time_going_backwards_counts_as_the_latest_time) {
  prefix_index index;
  decision_log log{index, 100ms};
  log.record(1, range(1, 2), t0 + 50ms);
  log.record(2, range(1, 2), t0);  // stale clock reading: recorded as t0 + 50ms
  EXPECT_EQ(log.expire(t0 + 100ms), 0u);
  EXPECT_EQ(log.expire(t0 + 150ms), 2u);
}

TEST(decision_log, prunes_the_oldest_above_max_blocks) {
  prefix_index index;
  decision_log log{index, 1h, 10, 0.8};
  for (uint64_t i = 0; i < 10; ++i)
    log.record(1, range(i, i + 1), t0 + std::chrono::milliseconds(i));
  EXPECT_EQ(log.size(), 10u);
  log.record(1, range(0, 1), t0 + 20ms);  // refresh the oldest: it survives pruning
  log.record(1, range(10, 11), t0 + 21ms);
  EXPECT_EQ(log.size(), 8u);
  EXPECT_EQ(index.stats().entries, 8u);
  for (uint64_t gone : {1, 2, 3})
    EXPECT_TRUE(index.find_matches(range(gone, gone + 1)).overlaps.empty()) << gone;
  for (uint64_t kept : {0, 4, 9, 10})
    EXPECT_EQ(depths(index, range(kept, kept + 1)), (depth_map{{1, 1}})) << kept;
  EXPECT_EQ(log.expire(t0 + 2h), 8u);
}

TEST(decision_log, degenerate_parameters_are_clamped) {
  prefix_index index;
  decision_log log{index, 0ms, 0, std::numeric_limits<double>::quiet_NaN()};
  log.record(1, range(1, 3), t0);
  EXPECT_EQ(log.size(), 0u);  // max 1, prune target 0: pruned at once
  decision_log log2{index, -5ms, 4, 7.0};
  log2.record(1, range(1, 4), t0);
  EXPECT_EQ(log2.size(), 3u);
  EXPECT_EQ(log2.expire(t0 + 1ms), 3u);  // ttl clamped to 1 ms
}

TEST(decision_log, remove_worker_forgets_it_in_the_log_and_the_index) {
  prefix_index index;
  decision_log log{index, 100ms};
  log.record(1, range(1, 5), t0);
  log.record(2, range(1, 3), t0);
  log.remove_worker(1);
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(depths(index, range(1, 5)), (depth_map{{2, 2}}));
  EXPECT_EQ(index.worker_blocks(1), 0u);
  EXPECT_EQ(log.expire(t0 + 100ms), 2u);  // worker 1's stale items are skipped
  EXPECT_EQ(index.stats().workers, 1u);
  log.remove_worker(7);  // unknown: no effect
}

TEST(decision_log, many_refreshes_of_hot_blocks_stay_correct) {
  prefix_index index;
  decision_log log{index, 100ms};
  const auto hot = range(1, 9);
  for (int i = 0; i < 5000; ++i)
    log.record(static_cast<worker_key>(i % 2), hot, t0 + std::chrono::milliseconds(i));
  EXPECT_EQ(log.size(), 16u);
  EXPECT_EQ(log.expire(t0 + 5000ms), 0u);
  EXPECT_EQ(log.expire(t0 + 5098ms), 8u);  // worker 0's last record was at 4998 ms
  EXPECT_EQ(log.expire(t0 + 5099ms), 8u);
  EXPECT_EQ(index.stats().entries, 0u);
}

} // namespace
} // namespace dynamo::kv_router
