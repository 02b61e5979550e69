#include "dynamo/kv_router/active_load.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <random>
#include <set>

namespace dynamo::kv_router {

static void PrintTo(const load_snapshot& x, std::ostream* os) {
  *os << "{active_requests " << x.active_requests << ", prefill_tokens " << x.prefill_tokens
      << ", decode_blocks " << x.decode_blocks << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

tracked_request req(uint64_t id, worker_key worker, std::vector<uint64_t> hashes,
                    uint32_t prompt_tokens, uint32_t prefill_tokens, uint32_t output) {
  return tracked_request{id, worker, std::move(hashes), prompt_tokens, prefill_tokens, output};
}

const clock::time_point t0 = clock::time_point{} + 1h;

TEST(active_load, tail_blocks_cover_the_partial_prompt_block_and_the_output) {
  active_load l{16};
  EXPECT_EQ(l.tail_blocks(48, 0), 0u) << "a block-aligned prompt without output has no tail";
  EXPECT_EQ(l.tail_blocks(48, 1), 1u);
  EXPECT_EQ(l.tail_blocks(50, 14), 1u) << "2 leftover prompt tokens + 14 output fill one block";
  EXPECT_EQ(l.tail_blocks(50, 15), 2u);
  EXPECT_EQ(l.tail_blocks(0, 4096), 256u);
}

TEST(active_load, shared_prompt_blocks_count_once_per_worker) {
  active_load l{16};
  ASSERT_TRUE(l.add(req(1, 7, {1, 2, 3}, 50, 50, 30), t0));
  EXPECT_EQ(l.load(7), (load_snapshot{1, 50, 3 + 2})) << "3 prompt blocks + ceil((2+30)/16)";
  EXPECT_EQ(l.potential_decode_blocks(7, std::vector<uint64_t>{1, 2, 4}, 48, 16), 5u + 1 + 1)
    << "blocks 1 and 2 are already held: only block 4 and one tail block are new";
  EXPECT_EQ(l.potential_decode_blocks(8, std::vector<uint64_t>{1, 2, 4}, 48, 16), 3u + 1)
    << "another worker holds nothing yet";
  ASSERT_TRUE(l.add(req(2, 7, {1, 2, 4}, 48, 16, 16), t0));
  EXPECT_EQ(l.load(7), (load_snapshot{2, 66, 7}))
    << "the potential decode blocks computed before adding must match the load after";
  ASSERT_TRUE(l.add(req(3, 8, {1, 2, 4}, 48, 48, 16), t0));
  EXPECT_EQ(l.load(8), (load_snapshot{1, 48, 4})) << "sharing is per worker, not global";
  EXPECT_EQ(l.load(7).decode_blocks, 7u);

  EXPECT_TRUE(l.finish(1));
  EXPECT_EQ(l.load(7), (load_snapshot{1, 16, 4})) << "block 3 goes, 1 and 2 stay for request 2";
  EXPECT_TRUE(l.finish(2));
  EXPECT_EQ(l.load(7), load_snapshot{});
  EXPECT_EQ(l.load(8), (load_snapshot{1, 48, 4}));
}

TEST(active_load, duplicate_ids_are_refused_without_change) {
  active_load l{16};
  ASSERT_TRUE(l.add(req(1, 7, {1, 2}, 32, 32, 16), t0));
  EXPECT_FALSE(l.add(req(1, 8, {5, 6, 7}, 48, 48, 16), t0 + 1s));
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(l.worker_of(1), worker_key{7});
  EXPECT_EQ(l.load(8), load_snapshot{});
  EXPECT_EQ(l.load(7), (load_snapshot{1, 32, 3}));
}

TEST(active_load, prefill_done_stops_counting_prefill_once) {
  active_load l{16};
  ASSERT_TRUE(l.add(req(1, 7, {1, 2}, 32, 20, 16), t0));
  ASSERT_TRUE(l.add(req(2, 7, {1, 3}, 32, 12, 16), t0));
  EXPECT_EQ(l.load(7).prefill_tokens, 32u);
  EXPECT_TRUE(l.prefill_done(1));
  EXPECT_EQ(l.load(7).prefill_tokens, 12u);
  EXPECT_FALSE(l.prefill_done(1)) << "a second first token changes nothing";
  EXPECT_EQ(l.load(7).prefill_tokens, 12u);
  EXPECT_FALSE(l.prefill_done(99));
  EXPECT_TRUE(l.finish(1)) << "finishing after the first token must not subtract prefill twice";
  EXPECT_EQ(l.load(7).prefill_tokens, 12u);
  EXPECT_TRUE(l.finish(2)) << "finishing before the first token drops its prefill";
  EXPECT_EQ(l.load(7), load_snapshot{});
  EXPECT_FALSE(l.finish(2));
  EXPECT_FALSE(l.prefill_done(2));
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.worker_count(), 0u) << "idle workers leave no state behind";
}

TEST(active_load, remove_worker_drops_only_its_requests) {
  active_load l{16};
  ASSERT_TRUE(l.add(req(5, 7, {1, 2}, 32, 32, 16), t0));
  ASSERT_TRUE(l.add(req(3, 7, {1, 4}, 32, 32, 16), t0));
  ASSERT_TRUE(l.add(req(4, 8, {1, 2}, 32, 32, 16), t0));
  EXPECT_THAT(l.remove_worker(7), ElementsAre(3u, 5u));
  EXPECT_EQ(l.load(7), load_snapshot{});
  EXPECT_FALSE(l.worker_of(5));
  EXPECT_EQ(l.load(8), (load_snapshot{1, 32, 3}));
  EXPECT_EQ(l.potential_decode_blocks(8, std::vector<uint64_t>{1, 2}, 32, 0), 3u)
    << "worker 8 still holds blocks 1 and 2";
  EXPECT_THAT(l.remove_worker(7), IsEmpty());
  EXPECT_THAT(l.remove_worker(123), IsEmpty());
  EXPECT_EQ(l.size(), 1u);
}

TEST(active_load, expire_drops_requests_added_before_the_cutoff) {
  active_load l{16};
  ASSERT_TRUE(l.add(req(1, 7, {1}, 16, 16, 16), t0 + 2s));
  ASSERT_TRUE(l.add(req(2, 8, {2}, 16, 16, 16), t0));
  ASSERT_TRUE(l.add(req(3, 7, {3}, 16, 16, 16), t0 + 1s));
  ASSERT_TRUE(l.add(req(4, 7, {4}, 16, 16, 16), t0 + 3s));
  EXPECT_TRUE(l.finish(3));
  EXPECT_THAT(l.expire(t0 + 2s + 500ms), ElementsAre(2u, 1u)) << "oldest first, finished skipped";
  EXPECT_EQ(l.load(8), load_snapshot{});
  EXPECT_EQ(l.load(7), (load_snapshot{1, 16, 2}));
  EXPECT_THAT(l.expire(t0 + 3s), IsEmpty()) << "the cutoff is exclusive";
  EXPECT_THAT(l.expire(t0 + 4s), ElementsAre(4u));
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.worker_count(), 0u);
}

TEST(active_load, for_each_holder_counts_held_prompt_blocks_of_every_worker) {
  active_load l{4};
  ASSERT_TRUE(l.add(req(1, 7, {1, 2, 3}, 12, 12, 0), t0));
  ASSERT_TRUE(l.add(req(2, 8, {1, 2}, 8, 8, 0), t0));
  ASSERT_TRUE(l.add(req(3, 8, {1, 9}, 8, 8, 0), t0));
  std::map<worker_key, int> held;
  l.for_each_holder(std::vector<uint64_t>{1, 2, 3, 4}, [&held](worker_key w) { ++held[w]; });
  EXPECT_EQ(held, (std::map<worker_key, int>{{7, 3}, {8, 2}}))
    << "a block held by two requests of one worker is reported once for it";
}

TEST(holder_table, reference_counts_per_worker) {
  holder_table t;
  EXPECT_TRUE(t.hold(5, 1));
  EXPECT_FALSE(t.hold(5, 1)) << "a second request of the same worker";
  EXPECT_TRUE(t.hold(5, 2));
  EXPECT_TRUE(t.hold(5, 3));
  EXPECT_EQ(t.size(), 1u);
  std::vector<worker_key> seen;
  t.for_each(5, [&seen](worker_key w) { seen.push_back(w); });
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre(1u, 2u, 3u));
  EXPECT_FALSE(t.release(5, 1));
  EXPECT_TRUE(t.release(5, 1)) << "the inline holder leaves, an overflow holder takes its place";
  EXPECT_TRUE(t.release(5, 3));
  seen.clear();
  t.for_each(5, [&seen](worker_key w) { seen.push_back(w); });
  EXPECT_THAT(seen, ElementsAre(2u));
  EXPECT_TRUE(t.release(5, 2));
  EXPECT_EQ(t.size(), 0u);
  t.for_each(5, [](worker_key) { ADD_FAILURE() << "nobody holds block 5 any more"; });
}

// Against std::map under random churn: many colliding probe runs, growth and shrinking.
TEST(holder_table, matches_a_map_under_random_churn) {
  holder_table t;
  std::map<std::pair<uint64_t, worker_key>, uint32_t> ref;
  std::mt19937_64 gen{7};
  std::vector<std::pair<uint64_t, worker_key>> held;
  for (int step = 0; step < 60000; ++step) {
    const bool grow = step < 30000 ? gen() % 3 != 0 : gen() % 3 == 0;
    if (grow || held.empty()) {
      const uint64_t h = gen() % 3000;  // small keys: every probe path is exercised
      const worker_key w = gen() % 4;
      const bool first = ref[std::pair{h, w}]++ == 0;
      ASSERT_EQ(t.hold(h, w), first) << "step " << step;
      held.emplace_back(h, w);
    } else {
      const auto k = gen() % held.size();
      const auto key = held[k];
      held[k] = held.back();
      held.pop_back();
      const bool last = --ref[key] == 0;
      ASSERT_EQ(t.release(key.first, key.second), last) << "step " << step;
      if (ref[key] == 0)
        ref.erase(key);
    }
    if (step % 10000 == 0 || step == 59999) {
      std::map<std::pair<uint64_t, worker_key>, uint32_t> got;
      std::set<uint64_t> hashes;
      for (const auto& [key, n] : ref)
        hashes.insert(key.first);
      for (auto h : hashes)
        t.for_each(h, [&got, h](worker_key w) { ++got[std::pair{h, w}]; });
      ASSERT_EQ(t.size(), hashes.size()) << "step " << step;
      for (const auto& [key, n] : ref)
        ASSERT_EQ(got[key], 1u) << "each holder is reported once, step " << step;
      ASSERT_EQ(got.size(), ref.size()) << "step " << step;
    }
  }
  for (const auto& [h, w] : held)
    t.release(h, w);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_LE(t.capacity(), 64u) << "the table shrinks back when emptied";
}

// The tracker against a brute-force recomputation of the documented model after every change.
TEST(active_load, matches_the_model_under_random_operations) {
  constexpr uint32_t bs = 8;
  active_load l{bs};
  std::mt19937_64 gen{42};
  std::map<uint64_t, tracked_request> live;
  std::set<uint64_t> prefilled;
  auto expected = [&live, &prefilled](worker_key w) {
    load_snapshot s;
    std::set<uint64_t> blocks;
    for (const auto& [id, r] : live) {
      if (r.worker != w)
        continue;
      ++s.active_requests;
      if (!prefilled.contains(id))
        s.prefill_tokens += r.prefill_tokens;
      blocks.insert(r.prompt_hashes.begin(), r.prompt_hashes.end());
      s.decode_blocks += (r.prompt_tokens % bs + r.expected_output_tokens + bs - 1) / bs;
    }
    s.decode_blocks += blocks.size();
    return s;
  };
  uint64_t next_id = 1;
  for (int step = 0; step < 3000; ++step) {
    const auto op = gen() % 10;
    if (op < 5 || live.empty()) {
      tracked_request r;
      r.id = next_id++;
      r.worker = gen() % 4;
      const auto blocks = gen() % 6;
      const auto prefix = gen() % 3;  // shared prefixes: hashes 100*prefix + i
      for (uint64_t i = 0; i < blocks; ++i)
        r.prompt_hashes.push_back(100 * prefix + i);
      r.prompt_tokens = static_cast<uint32_t>(blocks * bs + gen() % bs);
      r.prefill_tokens = static_cast<uint32_t>(gen() % (r.prompt_tokens + 1));
      r.expected_output_tokens = static_cast<uint32_t>(gen() % 40);
      const auto potential = l.potential_decode_blocks(r.worker, r.prompt_hashes,
                                                       r.prompt_tokens, r.expected_output_tokens);
      ASSERT_TRUE(l.add(r, t0 + std::chrono::seconds{step}));
      ASSERT_EQ(l.load(r.worker).decode_blocks, potential) << "step " << step;
      live.emplace(r.id, r);
    } else {
      auto it = std::next(live.begin(), static_cast<long>(gen() % live.size()));
      const auto id = it->first;
      if (op < 7) {
        ASSERT_EQ(l.prefill_done(id), !prefilled.contains(id));
        prefilled.insert(id);
      } else if (op < 9) {
        ASSERT_TRUE(l.finish(id));
        live.erase(it);
      } else {
        const auto w = it->second.worker;
        auto dropped = l.remove_worker(w);
        std::vector<uint64_t> want;
        for (auto i = live.begin(); i != live.end();)
          if (i->second.worker == w) {
            want.push_back(i->first);
            i = live.erase(i);
          } else {
            ++i;
          }
        ASSERT_EQ(dropped, want);
      }
    }
    for (worker_key w = 0; w < 4; ++w)
      ASSERT_EQ(l.load(w), expected(w)) << "worker " << w << " at step " << step;
    ASSERT_EQ(l.size(), live.size());
  }
  l.expire(clock::time_point::max());
  EXPECT_EQ(l.size(), 0u);
  for (worker_key w = 0; w < 4; ++w)
    EXPECT_EQ(l.load(w), load_snapshot{});
}

} // namespace
} // namespace dynamo::kv_router
