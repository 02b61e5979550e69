#include "dynamo/kv_router/prefix_index.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/kv_router/storage_tier.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

namespace dynamo::kv_router {
namespace {

using engine::kv_event;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint32_t block_size = 16;

/// Local and router-side hashes of `blocks` full blocks of tokens: blocks [0, shared) come from
/// `prefix_seed`, the rest from (prefix_seed, suffix_seed), so two sequences with one
/// prefix_seed and different suffix seeds share exactly `shared` leading blocks.
engine::block_hashes make_sequence(size_t blocks, uint64_t prefix_seed,
                                   size_t shared = std::numeric_limits<size_t>::max(),
                                   uint64_t suffix_seed = 0) {
  std::vector<engine::token_id> tokens(blocks * block_size);
  std::mt19937_64 prefix{prefix_seed};
  std::mt19937_64 suffix{(prefix_seed << 32) ^ suffix_seed ^ 0x5eed5eed5eedull};
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto& gen = i / block_size < shared ? prefix : suffix;
    tokens[i] = static_cast<engine::token_id>(gen() % 32000);
  }
  return engine::hash_blocks(tokens, block_size);
}

std::vector<uint64_t> slice(const std::vector<uint64_t>& v, size_t from, size_t to) {
  return {v.begin() + static_cast<ptrdiff_t>(from), v.begin() + static_cast<ptrdiff_t>(to)};
}

/// A stored event for blocks [from, to) of `seq`, as our engines emit it (external == router).
kv_event stored(const engine::block_hashes& seq, size_t from, size_t to) {
  kv_event ev;
  ev.type = kv_event::kind::stored;
  ev.block_hashes = slice(seq.sequence, from, to);
  ev.token_hashes = slice(seq.local, from, to);
  if (from > 0)
    ev.parent_hash = seq.sequence[from - 1];
  return ev;
}

kv_event removed(std::vector<uint64_t> hashes) {
  kv_event ev;
  ev.type = kv_event::kind::removed;
  ev.block_hashes = std::move(hashes);
  return ev;
}

kv_event cleared() {
  kv_event ev;
  ev.type = kv_event::kind::cleared;
  return ev;
}

/// worker -> depth, for compact expectations.
std::map<worker_key, uint32_t> depths(const match_result& r) {
  std::map<worker_key, uint32_t> out;
  for (const auto& o : r.overlaps)
    out[o.worker] = o.blocks;
  return out;
}

using depth_map = std::map<worker_key, uint32_t>;

TEST(storage_tier, names_round_trip) {
  for (auto t : {storage_tier::device, storage_tier::host, storage_tier::disk,
                 storage_tier::remote}) {
    auto parsed = parse_storage_tier(to_string(t));
    ASSERT_TRUE(parsed) << to_string(t);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_EQ(to_string(storage_tier::host), "host");
  EXPECT_EQ(to_string(static_cast<storage_tier>(9)), "unknown");
}

TEST(storage_tier, unknown_name_is_invalid_request) {
  auto parsed = parse_storage_tier("gpu");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(classify(parsed.error()), errc::invalid_request);
  EXPECT_THAT(client_message(parsed.error()), ::testing::HasSubstr("'gpu'"));
}

TEST(prefix_index, empty_index_and_empty_query_match_nothing) {
  prefix_index index;
  auto seq = make_sequence(4, 1);
  EXPECT_THAT(index.find_matches(seq.sequence).overlaps, IsEmpty());
  ASSERT_EQ(index.apply(1, stored(seq, 0, 4)), apply_status::ok);
  EXPECT_THAT(index.find_matches({}).overlaps, IsEmpty());
  EXPECT_THAT(index.find_matches(make_sequence(4, 2).sequence).overlaps, IsEmpty());
}

TEST(prefix_index, depth_per_worker_with_partial_chains) {
  prefix_index index;
  auto seq = make_sequence(8, 7);
  ASSERT_EQ(index.apply(30, stored(seq, 0, 8)), apply_status::ok);
  ASSERT_EQ(index.apply(10, stored(seq, 0, 3)), apply_status::ok);
  ASSERT_EQ(index.apply(20, stored(seq, 0, 1)), apply_status::ok);
  auto r = index.find_matches(seq.sequence);
  ASSERT_EQ(r.overlaps.size(), 3u);
  EXPECT_EQ(r.overlaps[0].worker, 10u);  // sorted by worker
  EXPECT_EQ(r.overlaps[1].worker, 20u);
  EXPECT_EQ(r.overlaps[2].worker, 30u);
  EXPECT_EQ(depths(r), (depth_map{{10, 3}, {20, 1}, {30, 8}}));
  // A shorter query caps the depth, a longer one is capped by what is held.
  EXPECT_EQ(depths(index.find_matches(slice(seq.sequence, 0, 2))),
            (depth_map{{10, 2}, {20, 1}, {30, 2}}));
  auto longer = make_sequence(12, 7, 8, 99);
  EXPECT_EQ(depths(index.find_matches(longer.sequence)), (depth_map{{10, 3}, {20, 1}, {30, 8}}));
  EXPECT_EQ(index.worker_blocks(30), 8u);
  EXPECT_EQ(index.worker_blocks(10), 3u);
  EXPECT_EQ(index.worker_blocks(99), 0u);
  EXPECT_THAT(index.workers(), ElementsAre(10, 20, 30));
  auto st = index.stats();
  EXPECT_EQ(st.entries, 12u);
  EXPECT_EQ(st.hashes, 8u);
  EXPECT_EQ(st.workers, 3u);
}

TEST(prefix_index, branches_share_the_prefix_only) {
  prefix_index index;
  auto a = make_sequence(8, 5, 4, 100);
  auto b = make_sequence(8, 5, 4, 200);
  ASSERT_EQ(slice(a.sequence, 0, 4), slice(b.sequence, 0, 4));
  ASSERT_NE(a.sequence[4], b.sequence[4]);
  ASSERT_EQ(index.apply(1, stored(a, 0, 8)), apply_status::ok);
  // Worker 2 stores the shared prefix, then its own suffix with the prefix as parent.
  ASSERT_EQ(index.apply(2, stored(b, 0, 4)), apply_status::ok);
  ASSERT_EQ(index.apply(2, stored(b, 4, 8)), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(a.sequence)), (depth_map{{1, 8}, {2, 4}}));
  EXPECT_EQ(depths(index.find_matches(b.sequence)), (depth_map{{1, 4}, {2, 8}}));
  auto st = index.stats();
  EXPECT_EQ(st.hashes, 12u);
  EXPECT_EQ(st.entries, 16u);
}

TEST(prefix_index, a_hole_stops_the_match) {
  prefix_index index;
  auto seq = make_sequence(5, 3);
  const std::vector<uint64_t> held{seq.sequence[0], seq.sequence[1], seq.sequence[3]};
  ASSERT_EQ(index.insert(4, held), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{4, 2}}));
  EXPECT_EQ(index.worker_blocks(4), 3u);
}

TEST(prefix_index, removal_in_the_middle_truncates_and_unknown_removals_are_counted) {
  prefix_index index;
  auto seq = make_sequence(8, 11);
  ASSERT_EQ(index.apply(1, stored(seq, 0, 8)), apply_status::ok);
  ASSERT_EQ(index.apply(2, stored(seq, 0, 8)), apply_status::ok);
  ASSERT_EQ(index.apply(1, removed({seq.sequence[3], 0xdeadbeef})), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{1, 3}, {2, 8}}));
  auto st = index.stats();
  EXPECT_EQ(st.entries, 15u);
  EXPECT_EQ(st.hashes, 8u);  // worker 2 still holds block 3
  EXPECT_EQ(st.unknown_removed, 1u);
  ASSERT_EQ(index.apply(2, removed({seq.sequence[3]})), apply_status::ok);
  EXPECT_EQ(index.stats().hashes, 7u);  // the last holder gone frees the hash
  index.erase(1, slice(seq.sequence, 0, 8));  // 3 is already gone: ignored
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{2, 3}}));
  EXPECT_EQ(index.worker_blocks(1), 0u);
}

TEST(prefix_index, cleared_drops_blocks_but_keeps_the_worker) {
  prefix_index index;
  auto seq = make_sequence(6, 13);
  ASSERT_EQ(index.apply(1, stored(seq, 0, 6)), apply_status::ok);
  ASSERT_EQ(index.apply(2, stored(seq, 0, 2)), apply_status::ok);
  ASSERT_EQ(index.apply(1, cleared()), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{2, 2}}));
  EXPECT_THAT(index.workers(), ElementsAre(1, 2));
  EXPECT_EQ(index.worker_blocks(1), 0u);
  auto st = index.stats();
  EXPECT_EQ(st.entries, 2u);
  EXPECT_EQ(st.hashes, 2u);
  // Its old blocks are unknown parents now.
  EXPECT_EQ(index.apply(1, stored(seq, 2, 4)), apply_status::unknown_parent);
  index.clear_worker(2);
  EXPECT_THAT(index.find_matches(seq.sequence).overlaps, IsEmpty());
  EXPECT_EQ(index.stats().entries, 0u);
  index.clear_worker(77);  // unknown: no effect
  EXPECT_THAT(index.workers(), ElementsAre(1, 2));
}

TEST(prefix_index, remove_worker_leaves_stats_at_zero_and_memory_at_baseline) {
  prefix_index index{{.shards = 8}};
  const auto baseline = index.stats();
  EXPECT_EQ(baseline.entries, 0u);
  for (worker_key w = 1; w <= 6; ++w)
    for (uint64_t s = 0; s < 20; ++s)
      ASSERT_EQ(index.apply(w, stored(make_sequence(16, s % 5, 8, w * 100 + s), 0, 16)),
                apply_status::ok);
  const auto full = index.stats();
  EXPECT_GT(full.entries, 6u * 20u * 8u);
  EXPECT_GT(full.memory_bytes, baseline.memory_bytes + full.entries * 16);
  for (worker_key w = 1; w <= 3; ++w)
    index.remove_worker(w);
  const auto half = index.stats();
  EXPECT_LT(half.memory_bytes, full.memory_bytes);
  EXPECT_EQ(half.workers, 3u);
  for (worker_key w = 4; w <= 6; ++w)
    index.remove_worker(w);
  index.remove_worker(4);  // twice: no effect
  const auto after = index.stats();
  EXPECT_EQ(after.entries, 0u);
  EXPECT_EQ(after.hashes, 0u);
  EXPECT_EQ(after.workers, 0u);
  EXPECT_EQ(after.memory_bytes, baseline.memory_bytes);
  EXPECT_THAT(index.workers(), IsEmpty());
  EXPECT_THAT(index.find_matches(make_sequence(16, 0).sequence).overlaps, IsEmpty());
  // A removed worker can come back.
  auto seq = make_sequence(3, 1);
  ASSERT_EQ(index.apply(2, stored(seq, 0, 3)), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{2, 3}}));
}

/// An engine whose external block ids are random numbers, unrelated to the router-side hashes.
struct foreign_engine {
  std::mt19937_64 ids{42};
  std::map<size_t, uint64_t> external;  ///< block position -> external id

  kv_event store(const engine::block_hashes& seq, size_t from, size_t to) {
    kv_event ev;
    ev.type = kv_event::kind::stored;
    for (size_t i = from; i < to; ++i) {
      external[i] = ids();
      ev.block_hashes.push_back(external[i]);
      ev.token_hashes.push_back(seq.local[i]);
    }
    if (from > 0)
      ev.parent_hash = external.at(from - 1);
    return ev;
  }
};

TEST(prefix_index, external_hashes_are_translated_through_the_parent_chain) {
  prefix_index index;
  auto seq = make_sequence(8, 21);
  foreign_engine eng;
  ASSERT_EQ(index.apply(5, eng.store(seq, 0, 4)), apply_status::ok);
  ASSERT_EQ(index.apply(5, eng.store(seq, 4, 8)), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{5, 8}}));
  // Removals name external ids.
  ASSERT_EQ(index.apply(5, removed({eng.external.at(5)})), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{5, 5}}));
  // Router-side hashes are not external ids for this engine.
  ASSERT_EQ(index.apply(5, removed({seq.sequence[0]})), apply_status::ok);
  EXPECT_EQ(index.stats().unknown_removed, 1u);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{5, 5}}));
  // A parent the worker never reported: dropped and reported.
  kv_event orphan = eng.store(seq, 6, 8);
  orphan.parent_hash = 0x1234;
  const auto before = index.stats();
  EXPECT_EQ(index.apply(5, orphan), apply_status::unknown_parent);
  const auto after = index.stats();
  EXPECT_EQ(after.unknown_parent, 1u);
  EXPECT_EQ(after.entries, before.entries);
}

TEST(prefix_index, events_without_token_hashes_use_block_hashes) {
  prefix_index index;
  auto seq = make_sequence(4, 31);
  kv_event ev = stored(seq, 0, 4);
  ev.token_hashes.clear();
  ASSERT_EQ(index.apply(1, ev), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{1, 4}}));
}

TEST(prefix_index, mismatched_hash_lists_are_malformed) {
  prefix_index index;
  auto seq = make_sequence(4, 33);
  kv_event ev = stored(seq, 0, 4);
  ev.token_hashes.pop_back();
  EXPECT_EQ(index.apply(1, ev), apply_status::unknown_parent);
  auto st = index.stats();
  EXPECT_EQ(st.malformed, 1u);
  EXPECT_EQ(st.unknown_parent, 0u);
  EXPECT_EQ(st.entries, 0u);
  EXPECT_EQ(index.apply(1, kv_event{}), apply_status::ok);  // an empty stored event
}

TEST(prefix_index, restoring_is_idempotent_and_updates_the_tier) {
  prefix_index index;
  auto seq = make_sequence(4, 41);
  ASSERT_EQ(index.apply(1, stored(seq, 0, 4)), apply_status::ok);
  ASSERT_EQ(index.apply(1, stored(seq, 0, 4), storage_tier::host), apply_status::ok);
  auto r = index.find_matches(seq.sequence);
  ASSERT_EQ(r.overlaps.size(), 1u);
  EXPECT_EQ(r.overlaps[0].blocks, 4u);
  EXPECT_THAT(r.overlaps[0].tier_blocks, ElementsAre(0, 4, 0, 0));
  EXPECT_EQ(index.stats().entries, 4u);
  // One remove forgets the block: re-storing did not add references.
  ASSERT_EQ(index.apply(1, removed({seq.sequence[0]})), apply_status::ok);
  EXPECT_THAT(index.find_matches(seq.sequence).overlaps, IsEmpty());
}

TEST(prefix_index, tiers_are_counted_per_worker) {
  prefix_index index;
  auto seq = make_sequence(9, 43);
  ASSERT_EQ(index.apply(1, stored(seq, 0, 4)), apply_status::ok);
  ASSERT_EQ(index.apply(1, stored(seq, 4, 6), storage_tier::host), apply_status::ok);
  ASSERT_EQ(index.apply(1, stored(seq, 6, 8), storage_tier::disk), apply_status::ok);
  ASSERT_EQ(index.apply(1, stored(seq, 8, 9), storage_tier::remote), apply_status::ok);
  ASSERT_EQ(index.insert(2, slice(seq.sequence, 0, 3), storage_tier::remote), apply_status::ok);
  auto r = index.find_matches(seq.sequence);
  ASSERT_EQ(r.overlaps.size(), 2u);
  EXPECT_EQ(r.overlaps[0].blocks, 9u);
  EXPECT_THAT(r.overlaps[0].tier_blocks, ElementsAre(4, 2, 2, 1));
  EXPECT_EQ(r.overlaps[1].blocks, 3u);
  EXPECT_THAT(r.overlaps[1].tier_blocks, ElementsAre(0, 0, 0, 3));
}

TEST(prefix_index, two_external_ids_for_one_block_are_reference_counted) {
  prefix_index index;
  auto seq = make_sequence(1, 47);
  kv_event a = stored(seq, 0, 1);
  a.block_hashes = {111};
  kv_event b = stored(seq, 0, 1);
  b.block_hashes = {222};
  ASSERT_EQ(index.apply(1, a), apply_status::ok);
  ASSERT_EQ(index.apply(1, b), apply_status::ok);
  EXPECT_EQ(index.stats().entries, 1u);
  ASSERT_EQ(index.apply(1, removed({111})), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{1, 1}}));
  ASSERT_EQ(index.apply(1, removed({222})), apply_status::ok);
  EXPECT_THAT(index.find_matches(seq.sequence).overlaps, IsEmpty());
  EXPECT_EQ(index.stats().hashes, 0u);
}

TEST(prefix_index, a_reused_external_id_moves_to_the_new_content) {
  prefix_index index;
  auto x = make_sequence(1, 51);
  auto y = make_sequence(1, 52);
  kv_event ev = stored(x, 0, 1);
  ev.block_hashes = {7};
  ASSERT_EQ(index.apply(1, ev), apply_status::ok);
  ev.token_hashes = y.local;
  ASSERT_EQ(index.apply(1, ev), apply_status::ok);
  EXPECT_THAT(index.find_matches(x.sequence).overlaps, IsEmpty());
  EXPECT_EQ(depths(index.find_matches(y.sequence)), (depth_map{{1, 1}}));
  auto st = index.stats();
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.hashes, 1u);
}

TEST(prefix_index, max_blocks_refuses_new_blocks_and_keeps_existing_ones) {
  prefix_index index{{.shards = 4, .max_blocks = 10}};
  auto seq = make_sequence(12, 61);
  ASSERT_EQ(index.apply(1, stored(seq, 0, 8)), apply_status::ok);
  EXPECT_EQ(index.apply(2, stored(seq, 0, 8)), apply_status::refused);
  auto st = index.stats();
  EXPECT_EQ(st.entries, 10u);
  EXPECT_EQ(st.refused, 6u);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{1, 8}, {2, 2}}));
  // Re-storing held blocks still works when full; new ones are refused.
  EXPECT_EQ(index.apply(1, stored(seq, 0, 8), storage_tier::host), apply_status::ok);
  EXPECT_EQ(index.insert(3, slice(seq.sequence, 0, 1)), apply_status::refused);
  // While full, a child of a refused block is refused rather than an unknown parent.
  EXPECT_EQ(index.apply(2, stored(seq, 8, 10)), apply_status::refused);
  st = index.stats();
  EXPECT_EQ(st.refused, 9u);
  EXPECT_EQ(st.unknown_parent, 0u);
  // Room again: worker 2 catches up.
  index.remove_worker(1);
  EXPECT_EQ(index.apply(2, stored(seq, 2, 10)), apply_status::ok);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{2, 10}}));
  EXPECT_EQ(index.stats().entries, 10u);
  EXPECT_EQ(index.apply(2, stored(seq, 10, 12)), apply_status::refused);
}

TEST(prefix_index, any_shard_count_works) {
  for (size_t shards : {size_t{0}, size_t{1}, size_t{3}, size_t{1} << 20}) {
    prefix_index index{{.shards = shards}};
    auto seq = make_sequence(6, 71);
    ASSERT_EQ(index.apply(1, stored(seq, 0, 6)), apply_status::ok);
    EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{1, 6}})) << shards;
    index.remove_worker(1);
    EXPECT_EQ(index.stats().hashes, 0u);
  }
}

TEST(prefix_index, random_inserts_and_erases_agree_with_a_reference_model) {
  // One shard, a small key universe (0 included) and heavy churn exercise table growth,
  // shrinking and deletion inside probe runs.
  prefix_index index{{.shards = 1}};
  const auto baseline = index.stats().memory_bytes;
  std::map<uint64_t, std::set<worker_key>> model;
  std::mt19937_64 rng{99};
  for (int op = 0; op < 30000; ++op) {
    const worker_key w = 1 + rng() % 3;
    const uint64_t h = rng() % 3000;
    if (rng() % 100 < (op < 15000 ? 60 : 35)) {
      ASSERT_EQ(index.insert(w, std::span{&h, 1}), apply_status::ok);
      model[h].insert(w);
    } else {
      index.erase(w, std::span{&h, 1});
      if (auto it = model.find(h); it != model.end() && it->second.erase(w) > 0
                                   && it->second.empty())
        model.erase(it);
    }
    if (op % 1000 == 999) {
      uint64_t entries = 0;
      for (uint64_t k = 0; k < 3000; ++k) {
        std::set<worker_key> got;
        for (const auto& o : index.find_matches(std::span{&k, 1}).overlaps)
          got.insert(o.worker);
        auto it = model.find(k);
        ASSERT_EQ(got, it == model.end() ? std::set<worker_key>{} : it->second) << "hash " << k;
        entries += got.size();
      }
      ASSERT_EQ(index.stats().entries, entries);
      ASSERT_EQ(index.stats().hashes, model.size());
    }
  }
  for (worker_key w = 1; w <= 3; ++w)
    index.clear_worker(w);
  EXPECT_EQ(index.stats().hashes, 0u);
  for (worker_key w = 1; w <= 3; ++w)
    index.remove_worker(w);
  EXPECT_EQ(index.stats().memory_bytes, baseline);
}

TEST(prefix_index, many_holders_of_one_hash_grow_and_shrink) {
  prefix_index index;
  auto seq = make_sequence(2, 81);
  for (worker_key w = 40; w >= 1; --w)  // descending: every insert goes to the front
    ASSERT_EQ(index.insert(w, seq.sequence), apply_status::ok);
  EXPECT_EQ(index.find_matches(seq.sequence).overlaps.size(), 40u);
  const auto full = index.stats().memory_bytes;
  for (worker_key w = 1; w <= 40; ++w)
    if (w % 8 != 0)
      index.remove_worker(w);
  auto r = index.find_matches(seq.sequence);
  ASSERT_EQ(r.overlaps.size(), 5u);
  for (size_t i = 0; i < r.overlaps.size(); ++i) {
    EXPECT_EQ(r.overlaps[i].worker, 8 * (i + 1));
    EXPECT_EQ(r.overlaps[i].blocks, 2u);
  }
  EXPECT_LT(index.stats().memory_bytes, full);
  for (worker_key w : {8, 16, 24, 32})
    index.remove_worker(w);
  EXPECT_EQ(depths(index.find_matches(seq.sequence)), (depth_map{{40, 2}}));
}

/// A deterministic event script for one worker: chains over a few shared prefix groups with
/// stores, removals and an occasional clear.
std::vector<kv_event> make_script(worker_key worker, size_t steps,
                                  const std::vector<engine::block_hashes>& groups) {
  std::mt19937_64 rng{worker};
  std::vector<kv_event> script;
  std::vector<uint64_t> held;
  for (size_t step = 0; step < steps; ++step) {
    const auto roll = rng() % 100;
    if (roll < 2) {
      script.push_back(cleared());
      held.clear();
    } else if (roll < 30 && !held.empty()) {
      std::vector<uint64_t> gone;
      for (size_t i = 0, n = 1 + rng() % 4; i < n && !held.empty(); ++i) {
        const auto at = rng() % held.size();
        gone.push_back(held[at]);
        held.erase(held.begin() + static_cast<ptrdiff_t>(at));
      }
      script.push_back(removed(std::move(gone)));
    } else {
      const auto& seq = groups[rng() % groups.size()];
      const size_t from = rng() % 2 == 0 ? 0 : rng() % (seq.sequence.size() / 2);
      const size_t to = std::min(seq.sequence.size(), from + 1 + rng() % 8);
      script.push_back(stored(seq, from, to));
      held.insert(held.end(), seq.sequence.begin() + static_cast<ptrdiff_t>(from),
                  seq.sequence.begin() + static_cast<ptrdiff_t>(to));
    }
  }
  return script;
}

TEST(prefix_index, concurrent_ingest_and_queries_equal_a_sequential_reference) {
  constexpr size_t workers = 8;
  constexpr size_t ingest_threads = 4;
  constexpr size_t query_threads = 4;
  std::vector<engine::block_hashes> groups;
  for (uint64_t g = 0; g < 6; ++g)
    groups.push_back(make_sequence(24, 1000 + g % 3, 6, g));
  std::vector<std::vector<kv_event>> scripts;
  for (worker_key w = 0; w < workers; ++w)
    scripts.push_back(make_script(w + 1, 250, groups));

  prefix_index concurrent{{.shards = 8}};
  std::atomic<bool> ingest_done{false};
  std::atomic<uint64_t> queries{0};
  std::atomic<uint64_t> bad_results{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < query_threads; ++t)
    threads.emplace_back([&concurrent, &groups, &ingest_done, &queries, &bad_results, t] {
      size_t i = t;
      while (!ingest_done.load() || queries.load() < 200) {
        const auto& q = groups[i++ % groups.size()].sequence;
        auto r = concurrent.find_matches(q);
        for (size_t k = 0; k < r.overlaps.size(); ++k) {
          const auto& o = r.overlaps[k];
          uint32_t tiers = 0;
          for (auto n : o.tier_blocks)
            tiers += n;
          if (o.blocks == 0 || o.blocks > q.size() || tiers != o.blocks
              || (k > 0 && r.overlaps[k - 1].worker >= o.worker))
            bad_results.fetch_add(1);
        }
        queries.fetch_add(1);
      }
    });
  std::vector<std::thread> ingesters;
  for (size_t t = 0; t < ingest_threads; ++t)
    ingesters.emplace_back([&concurrent, &scripts, t] {
      // Thread t owns workers t and t + ingest_threads, interleaving their scripts.
      for (size_t step = 0; step < scripts[t].size(); ++step)
        for (size_t w = t; w < workers; w += ingest_threads)
          concurrent.apply(w + 1, scripts[w][step],
                           static_cast<storage_tier>((w + step) % storage_tier_count));
    });
  for (auto& th : ingesters)
    th.join();
  ingest_done.store(true);
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(bad_results.load(), 0u);
  EXPECT_GE(queries.load(), 200u);

  prefix_index reference{{.shards = 1}};
  for (size_t step = 0; step < scripts[0].size(); ++step)
    for (size_t w = 0; w < workers; ++w)
      reference.apply(w + 1, scripts[w][step],
                      static_cast<storage_tier>((w + step) % storage_tier_count));
  for (const auto& g : groups) {
    auto a = concurrent.find_matches(g.sequence);
    auto b = reference.find_matches(g.sequence);
    ASSERT_EQ(a.overlaps.size(), b.overlaps.size());
    for (size_t k = 0; k < a.overlaps.size(); ++k) {
      EXPECT_EQ(a.overlaps[k].worker, b.overlaps[k].worker);
      EXPECT_EQ(a.overlaps[k].blocks, b.overlaps[k].blocks);
      EXPECT_EQ(a.overlaps[k].tier_blocks, b.overlaps[k].tier_blocks);
    }
  }
  const auto sa = concurrent.stats();
  const auto sb = reference.stats();
  EXPECT_GT(sb.entries, 0u);
  EXPECT_EQ(sa.entries, sb.entries);
  EXPECT_EQ(sa.hashes, sb.hashes);
  EXPECT_EQ(sa.unknown_parent, sb.unknown_parent);
  EXPECT_EQ(sa.unknown_removed, sb.unknown_removed);
  for (worker_key w = 1; w <= workers; ++w)
    EXPECT_EQ(concurrent.worker_blocks(w), reference.worker_blocks(w)) << "worker " << w;
  // Removing workers concurrently with queries leaves nothing behind.
  std::thread remover{[&concurrent] {
    for (worker_key w = 1; w <= workers; ++w)
      concurrent.remove_worker(w);
  }};
  for (int i = 0; i < 50; ++i)
    (void) concurrent.find_matches(groups[static_cast<size_t>(i) % groups.size()].sequence);
  remover.join();
  const auto end = concurrent.stats();
  EXPECT_EQ(end.entries, 0u);
  EXPECT_EQ(end.hashes, 0u);
  EXPECT_EQ(end.workers, 0u);
}

} // namespace
} // namespace dynamo::kv_router
