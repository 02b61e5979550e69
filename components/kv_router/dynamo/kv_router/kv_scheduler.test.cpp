#include "dynamo/kv_router/kv_scheduler.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <limits>
#include <map>
#include <numeric>
#include <ostream>

namespace dynamo::kv_router {

static void PrintTo(const load_snapshot& x, std::ostream* os) {
  *os << "{active_requests " << x.active_requests << ", prefill_tokens " << x.prefill_tokens
      << ", decode_blocks " << x.decode_blocks << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

constexpr uint32_t bs = 16;
const clock::time_point t0 = clock::time_point{} + 1h;

/// `blocks` full blocks of tokens derived from `seed` (equal seeds give equal blocks).
std::vector<engine::token_id> block_tokens(uint32_t seed, uint32_t blocks) {
  std::vector<engine::token_id> out(size_t{blocks} * bs);
  std::iota(out.begin(), out.end(), seed * 100000u);
  return out;
}

/// A prompt: `prefix_blocks` blocks shared by every prompt with the same `prefix`, then
/// `suffix_blocks` blocks unique to `suffix`, then `extra` tokens.
std::vector<engine::token_id> prompt(uint32_t prefix, uint32_t prefix_blocks, uint32_t suffix,
                                     uint32_t suffix_blocks, uint32_t extra = 0) {
  auto out = block_tokens(prefix + 1, prefix_blocks);
  auto tail = block_tokens(1000 + suffix, suffix_blocks);
  out.insert(out.end(), tail.begin(), tail.end());
  for (uint32_t i = 0; i < extra; ++i)
    out.push_back(7);
  return out;
}

std::vector<uint64_t> hashes_of(const std::vector<engine::token_id>& tokens) {
  return engine::hash_blocks(tokens, bs).sequence;
}

/// A tracked request on `worker` with `blocks` private prompt blocks.
tracked_request load_request(uint64_t id, worker_key worker, uint32_t blocks,
                             uint32_t prefill_tokens, uint32_t output = 0) {
  tracked_request r;
  r.id = id;
  r.worker = worker;
  for (uint32_t i = 0; i < blocks; ++i)
    r.prompt_hashes.push_back((id << 20) + i);
  r.prompt_tokens = blocks * bs;
  r.prefill_tokens = prefill_tokens;
  r.expected_output_tokens = output;
  return r;
}

struct fixture : ::testing::Test {
  kv_scheduler_config cfg;
  prefix_index index;
  std::unique_ptr<kv_scheduler> sched;

  void make(std::vector<worker_key> workers, uint64_t capacity = 10000) {
    sched = std::make_unique<kv_scheduler>(cfg, index, 1);
    for (auto w : workers)
      sched->add_worker(w, capacity);
  }

  caf::expected<route_decision> route(uint64_t id, const std::vector<engine::token_id>& tokens,
                                      uint32_t max_tokens = 0, routing_overrides o = {},
                                      std::vector<worker_key> exclude = {}) {
    return sched->schedule(id, tokens, max_tokens, o, exclude, t0);
  }
};

using kv_scheduler_test = fixture;

TEST_F(kv_scheduler_test, anchor_worked_example_end_to_end) {
  make({1, 2, 3});
  // A 2-block prompt nobody caches. Worker 1: 6 blocks of prefill still running and 8 decode
  // blocks -> (6 + 2) + (8 + 2) = 18. Worker 2: 3 + 2 prefill, 3 + 2 decode -> 10. Worker 3:
  // prefill done, 7 decode blocks -> 2 + (7 + 2) = 11.
  ASSERT_TRUE(sched->track_remote(load_request(101, 1, 8, 6 * bs), t0));
  ASSERT_TRUE(sched->track_remote(load_request(102, 2, 3, 3 * bs), t0));
  ASSERT_TRUE(sched->track_remote(load_request(103, 3, 7, 7 * bs), t0));
  ASSERT_TRUE(sched->prefill_done(103));
  auto d = route(1, prompt(0, 0, 1, 2));
  ASSERT_TRUE(d) << describe(d.error());
  EXPECT_EQ(d->worker, 2u);
  EXPECT_DOUBLE_EQ(d->cost, 10.0);
  EXPECT_EQ(d->prompt_blocks, 2u);
  EXPECT_EQ(d->overlap_blocks, 0u);
  EXPECT_FALSE(d->busy_fallback);
}

TEST_F(kv_scheduler_test, overlap_wins_at_low_load) {
  make({1, 2, 3});
  const auto p = prompt(0, 10, 1, 2, 5);
  const auto h = hashes_of(p);
  index.insert(3, std::span{h}.first(10));
  auto d = route(1, p, 32);
  ASSERT_TRUE(d) << describe(d.error());
  EXPECT_EQ(d->worker, 3u);
  EXPECT_EQ(d->overlap_blocks, 10u);
  EXPECT_EQ(d->prompt_blocks, 12u);
  EXPECT_EQ(d->tracked.id, 1u);
  EXPECT_EQ(d->tracked.worker, 3u);
  EXPECT_EQ(d->tracked.prompt_hashes, h);
  EXPECT_EQ(d->tracked.prompt_tokens, p.size());
  EXPECT_EQ(d->tracked.prefill_tokens, p.size() - 10 * bs) << "only uncached tokens prefill";
  EXPECT_EQ(d->tracked.expected_output_tokens, 32u);
  EXPECT_EQ(sched->load(3), (load_snapshot{1, 2 * bs + 5, 12 + 3}))
    << "12 prompt blocks + ceil((5 + 32) / 16) tail blocks";
  EXPECT_EQ(sched->worker_of(1), worker_key{3});
}

TEST_F(kv_scheduler_test, load_wins_when_the_cached_worker_is_loaded) {
  make({1, 2});
  const auto p = prompt(0, 10, 1, 2);
  const auto h = hashes_of(p);
  index.insert(1, std::span{h}.first(10));
  // Worker 1 caches 10 of 12 blocks (saves 10 prefill blocks) but runs 40 decode blocks.
  ASSERT_TRUE(sched->track_remote(load_request(100, 1, 40, 0), t0));
  auto d = route(1, p);
  ASSERT_TRUE(d) << describe(d.error());
  EXPECT_EQ(d->worker, 2u) << "cost 2 + 52 on the cached worker vs 12 + 12 on the idle one";
  EXPECT_DOUBLE_EQ(d->cost, 24.0);
  EXPECT_EQ(d->overlap_blocks, 0u);
}

TEST_F(kv_scheduler_test, overrides_change_the_decision) {
  make({1, 2});
  const auto p = prompt(0, 10, 1, 2);
  const auto h = hashes_of(p);
  index.insert(1, std::span{h}.first(10));
  ASSERT_TRUE(sched->track_remote(load_request(100, 1, 40, 0), t0));
  auto d = route(1, p, 0, {10.0, {}});
  ASSERT_TRUE(d) << describe(d.error());
  EXPECT_EQ(d->worker, 1u) << "weight 10: 20 + 52 vs 120 + 12";
  EXPECT_DOUBLE_EQ(d->cost, 72.0);
  ASSERT_TRUE(sched->finish(1));

  ASSERT_FALSE(sched->set_selector({10.0, 0.0}));
  EXPECT_DOUBLE_EQ(sched->config().selector.overlap_weight, 10.0);
  d = route(2, p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->worker, 1u) << "the new default weight applies";
  ASSERT_TRUE(sched->finish(2));
  d = route(3, p, 0, {1.0, {}});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->worker, 2u) << "a per-request weight beats the default";
  ASSERT_TRUE(sched->finish(3));
  EXPECT_EQ(classify(sched->set_selector({-1.0, 0.0})), errc::invalid_request);
  EXPECT_DOUBLE_EQ(sched->config().selector.overlap_weight, 10.0);

  std::map<worker_key, int> counts;
  for (uint64_t id = 1000; id < 1400; ++id) {
    d = route(id, p, 0, {1.0, 5.0});
    ASSERT_TRUE(d);
    ++counts[d->worker];
    ASSERT_TRUE(sched->finish(id));
  }
  EXPECT_GT(counts[1], 50) << "a high temperature override spreads the choice";
  EXPECT_GT(counts[2], counts[1]) << "but the cheaper worker stays more likely";
}

TEST_F(kv_scheduler_test, no_hot_spotting_on_a_shared_system_prompt) {
  make({1, 2, 3, 4});
  std::map<worker_key, int> counts;
  std::deque<uint64_t> active;
  for (uint64_t id = 1; id <= 400; ++id) {
    auto d = route(id, prompt(0, 20, static_cast<uint32_t>(id), 4), 64);
    ASSERT_TRUE(d) << describe(d.error());
    ++counts[d->worker];
    index.insert(d->worker, d->tracked.prompt_hashes);  // the worker now caches the prompt
    ASSERT_TRUE(sched->prefill_done(id));
    active.push_back(id);
    if (active.size() > 24) {
      ASSERT_TRUE(sched->finish(active.front()));
      active.pop_front();
    }
  }
  for (worker_key w = 1; w <= 4; ++w)
    EXPECT_GE(counts[w], 40) << "worker " << w << " got " << counts[w] << " of 400 requests";
}

TEST_F(kv_scheduler_test, without_load_a_high_overlap_weight_concentrates_on_the_cache) {
  cfg.selector.overlap_weight = 10.0;
  make({1, 2, 3, 4});
  std::map<worker_key, int> counts;
  for (uint64_t id = 1; id <= 400; ++id) {
    auto d = route(id, prompt(0, 20, static_cast<uint32_t>(id), 4), 64);
    ASSERT_TRUE(d) << describe(d.error());
    ++counts[d->worker];
    index.insert(d->worker, d->tracked.prompt_hashes);
    ASSERT_TRUE(sched->finish(id));
  }
  EXPECT_EQ(counts.size(), 1u) << "every request should follow the cached system prompt";
  EXPECT_EQ(counts.begin()->second, 400);
}

TEST_F(kv_scheduler_test, equal_idle_workers_share_traffic) {
  make({1, 2, 3});
  std::map<worker_key, int> counts;
  for (uint64_t id = 1; id <= 30; ++id) {
    auto d = route(id, prompt(static_cast<uint32_t>(id), 2, 0, 0));
    ASSERT_TRUE(d);
    ++counts[d->worker];
    ASSERT_TRUE(sched->finish(id));
  }
  EXPECT_EQ(counts, (std::map<worker_key, int>{{1, 10}, {2, 10}, {3, 10}}));
}

TEST_F(kv_scheduler_test, exclude_is_honoured) {
  make({1, 2, 3});
  const auto p = prompt(0, 4, 0, 0);
  index.insert(2, hashes_of(p));
  auto d = route(1, p, 0, {}, {2});
  ASSERT_TRUE(d);
  EXPECT_NE(d->worker, 2u) << "the cached worker is excluded";
  d = route(2, p, 0, {}, {2, 1, 3});
  ASSERT_FALSE(d);
  EXPECT_EQ(classify(d.error()), errc::unavailable);
  EXPECT_FALSE(sched->worker_of(2)) << "a failed decision tracks nothing";
  d = route(3, p, 0, {}, {99});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->worker, 2u) << "excluding an unknown worker changes nothing";
}

TEST_F(kv_scheduler_test, busy_workers_are_skipped_until_all_are_busy) {
  cfg.busy.active_requests = 1;
  make({1, 2});
  EXPECT_FALSE(sched->all_busy());
  const auto p = prompt(0, 8, 0, 0);
  index.insert(1, hashes_of(p));
  ASSERT_TRUE(sched->track_remote(load_request(100, 1, 1, 0), t0));
  ASSERT_TRUE(sched->track_remote(load_request(101, 1, 1, 0), t0));
  EXPECT_FALSE(sched->all_busy());
  EXPECT_TRUE(sched->all_busy(std::vector<worker_key>{2})) << "the only idle worker is excluded";
  auto d = route(1, p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->worker, 2u) << "worker 1 holds the prefix but is busy (2 requests > 1)";
  EXPECT_FALSE(d->busy_fallback);
  d = route(2, p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->worker, 2u) << "1 request is not above the threshold";
  EXPECT_TRUE(sched->all_busy());
  d = route(3, p);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->busy_fallback);
  EXPECT_EQ(d->worker, 1u) << "among busy workers the cost decides (worker 1 caches the prompt)";
  ASSERT_TRUE(sched->finish(100));
  ASSERT_TRUE(sched->finish(101));
  ASSERT_TRUE(sched->finish(3));
  EXPECT_FALSE(sched->all_busy());
}

TEST_F(kv_scheduler_test, kv_usage_and_prefill_thresholds) {
  cfg.busy.kv_usage = 0.5;
  cfg.busy.prefill_tokens = 100;
  make({1, 2}, 20);
  ASSERT_TRUE(sched->track_remote(load_request(100, 1, 11, 0), t0));
  ASSERT_TRUE(sched->track_remote(load_request(101, 2, 1, 101), t0));
  EXPECT_TRUE(sched->all_busy()) << "worker 1 holds 11/20 blocks, worker 2 prefills 101 tokens";
  ASSERT_TRUE(sched->prefill_done(101));
  EXPECT_FALSE(sched->all_busy());
  sched->add_worker(1, 100);
  EXPECT_EQ(sched->total_kv_blocks(1), 100u);
  EXPECT_EQ(sched->load(1).active_requests, 1u) << "a capacity change keeps the load";
  ASSERT_TRUE(sched->prefill_done(100));
  EXPECT_FALSE(sched->all_busy(std::vector<worker_key>{2}));
}

TEST_F(kv_scheduler_test, no_worker_means_unavailable_and_all_busy) {
  make({});
  EXPECT_TRUE(sched->all_busy());
  auto d = route(1, prompt(0, 2, 0, 0));
  ASSERT_FALSE(d);
  EXPECT_EQ(classify(d.error()), errc::unavailable);
}

TEST_F(kv_scheduler_test, bad_requests_are_rejected_without_change) {
  make({1, 2});
  const auto p = prompt(0, 3, 0, 0, 4);
  ASSERT_TRUE(route(1, p));
  const auto before = sched->load(sched->worker_of(1).value());
  auto d = route(1, p);
  ASSERT_FALSE(d);
  EXPECT_EQ(classify(d.error()), errc::invalid_request) << "duplicate id";
  const auto nan = std::numeric_limits<double>::quiet_NaN();
  for (auto o : {routing_overrides{-1.0, {}}, routing_overrides{nan, {}},
                 routing_overrides{{}, -2.0}}) {
    d = route(2, p, 0, o);
    ASSERT_FALSE(d);
    EXPECT_EQ(classify(d.error()), errc::invalid_request) << describe(d.error());
  }
  const auto h = hashes_of(p);
  d = sched->schedule_hashed(3, std::span{h}.first(2), static_cast<uint32_t>(p.size()), 0, {}, {},
                             t0);
  ASSERT_FALSE(d);
  EXPECT_EQ(classify(d.error()), errc::invalid_request) << "2 hashes for a 3-block prompt";
  EXPECT_EQ(sched->tracked_requests(), 1u);
  EXPECT_EQ(sched->load(sched->worker_of(1).value()), before);
}

TEST_F(kv_scheduler_test, schedule_equals_schedule_hashed) {
  make({1, 2, 3});
  const auto p = prompt(0, 5, 1, 1, 9);
  const auto h = hashes_of(p);
  index.insert(2, std::span{h}.first(3));
  auto a = route(1, p, 100);
  ASSERT_TRUE(a);
  ASSERT_TRUE(sched->finish(1));
  auto b = sched->schedule_hashed(1, h, static_cast<uint32_t>(p.size()), 100, {}, {}, t0);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->worker, b->worker);
  EXPECT_EQ(a->tracked, b->tracked);
  EXPECT_DOUBLE_EQ(a->cost, b->cost);
  EXPECT_EQ(a->overlap_blocks, 3u);
}

TEST_F(kv_scheduler_test, expected_output_is_capped) {
  cfg.max_expected_output = 64;
  make({1});
  auto d = route(1, prompt(0, 2, 0, 0), 100000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->tracked.expected_output_tokens, 64u);
  EXPECT_EQ(sched->load(1).decode_blocks, 2u + 4u);
}

TEST_F(kv_scheduler_test, shared_prefix_decode_blocks_count_once) {
  make({1});
  ASSERT_TRUE(route(1, prompt(0, 10, 1, 2), 16));
  EXPECT_EQ(sched->load(1).decode_blocks, 12u + 1u);
  ASSERT_TRUE(route(2, prompt(0, 10, 2, 2), 16));
  EXPECT_EQ(sched->load(1).decode_blocks, 12u + 1u + 2u + 1u)
    << "the 10 shared blocks count once; each request adds its 2 own blocks and 1 tail block";
}

TEST_F(kv_scheduler_test, bookkeeping_returns_to_zero) {
  make({1, 2});
  for (uint64_t id = 1; id <= 6; ++id)
    ASSERT_TRUE(route(id, prompt(0, 3, static_cast<uint32_t>(id), 1, 3), 20));
  EXPECT_EQ(sched->tracked_requests(), 6u);
  auto total = [this] {
    load_snapshot s;
    for (worker_key w : {1, 2}) {
      auto l = sched->load(w);
      s.active_requests += l.active_requests;
      s.prefill_tokens += l.prefill_tokens;
      s.decode_blocks += l.decode_blocks;
    }
    return s;
  };
  EXPECT_EQ(total().active_requests, 6u);
  for (uint64_t id = 1; id <= 6; ++id)
    EXPECT_TRUE(sched->prefill_done(id));
  EXPECT_EQ(total().prefill_tokens, 0u);
  EXPECT_FALSE(sched->prefill_done(1));
  EXPECT_TRUE(sched->finish(1));
  EXPECT_TRUE(sched->finish(2));
  EXPECT_FALSE(sched->finish(2));

  const auto on_1 = [this] {
    std::vector<uint64_t> ids;
    for (uint64_t id = 3; id <= 6; ++id)
      if (sched->worker_of(id) == worker_key{1})
        ids.push_back(id);
    return ids;
  }();
  EXPECT_EQ(sched->remove_worker(1), on_1);
  EXPECT_FALSE(sched->has_worker(1));
  EXPECT_THAT(sched->workers(), ElementsAre(2u));
  EXPECT_EQ(sched->load(1), load_snapshot{});
  EXPECT_FALSE(sched->track_remote(load_request(50, 1, 2, 0), t0)) << "worker 1 is gone";

  ASSERT_TRUE(sched->track_remote(load_request(51, 2, 2, 0), t0 + 10s));
  EXPECT_FALSE(sched->track_remote(load_request(51, 2, 5, 0), t0 + 10s)) << "already tracked";
  auto expired = sched->expire(t0 + 5s);
  EXPECT_EQ(expired.size(), 4u - on_1.size()) << "requests routed at t0 expire, 51 stays";
  EXPECT_EQ(sched->load(2), (load_snapshot{1, 0, 2}));
  EXPECT_THAT(sched->expire(t0 + 11s), ElementsAre(51u));
  EXPECT_EQ(total(), load_snapshot{});
  EXPECT_EQ(sched->tracked_requests(), 0u);
}

TEST_F(kv_scheduler_test, workers_are_sorted_and_config_is_validated) {
  make({5, 1, 3});
  EXPECT_THAT(sched->workers(), ElementsAre(1u, 3u, 5u));
  EXPECT_TRUE(sched->has_worker(3));
  EXPECT_EQ(sched->total_kv_blocks(7), 0u);
  EXPECT_FALSE(validate(kv_scheduler_config{}));
  kv_scheduler_config bad;
  bad.block_size = 0;
  EXPECT_EQ(classify(validate(bad)), errc::invalid_request);
  bad = {};
  bad.busy.kv_usage = -1;
  EXPECT_EQ(classify(validate(bad)), errc::invalid_request);
  bad = {};
  bad.selector.temperature = std::numeric_limits<double>::infinity();
  EXPECT_EQ(classify(validate(bad)), errc::invalid_request);
}

} // namespace
} // namespace dynamo::kv_router
