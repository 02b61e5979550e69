#include "dynamo/batching/kv_block_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <vector>

namespace dynamo::batching {
namespace {

using engine::kv_event;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct recorder {
  std::vector<kv_event> events;
  engine::kv_event_sink sink() {
    return [this](const kv_event& ev) { events.push_back(ev); };
  }
};

// Hashes for tests: sequence hash 1000 + i, local hash 2000 + i.
std::vector<uint64_t> seq_hashes(uint64_t first, size_t n) {
  std::vector<uint64_t> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back(first + i);
  return result;
}

void register_all(kv_block_manager& kv, const std::vector<block_index>& blocks,
                  const std::vector<uint64_t>& hashes, std::optional<uint64_t> parent = {}) {
  std::vector<uint64_t> local;
  for (auto h : hashes)
    local.push_back(h + 1000);
  kv.register_blocks(blocks, hashes, local, parent);
}

void expect_partition(const kv_block_manager& kv) {
  EXPECT_EQ(kv.active_blocks() + kv.inactive_blocks() + kv.free_blocks(), kv.total_blocks());
}

TEST(kv_block_manager, allocates_free_blocks_and_fails_atomically) {
  kv_block_manager kv{4, true};
  std::vector<block_index> a;
  ASSERT_TRUE(kv.allocate(3, a));
  EXPECT_THAT(a, ElementsAre(0u, 1u, 2u));
  EXPECT_EQ(kv.active_blocks(), 3u);
  EXPECT_EQ(kv.free_blocks(), 1u);
  EXPECT_EQ(kv.ref_count(0), 1u);
  EXPECT_FALSE(kv.allocate(2, a)) << "only one block is left";
  EXPECT_EQ(a.size(), 3u) << "a failed allocation must not hand out anything";
  EXPECT_EQ(kv.free_blocks(), 1u);
  kv.release(a);
  EXPECT_EQ(kv.active_blocks(), 0u);
  EXPECT_EQ(kv.inactive_blocks(), 0u) << "unregistered blocks carry no reusable content";
  EXPECT_EQ(kv.free_blocks(), 4u);
  EXPECT_EQ(kv.ref_count(0), 0u);
  EXPECT_EQ(kv.ref_count(99), 0u);
  expect_partition(kv);
}

TEST(kv_block_manager, released_registered_blocks_stay_cached_until_evicted_lru_first) {
  kv_block_manager kv{4, true};
  recorder rec;
  kv.set_event_sink(rec.sink());
  std::vector<block_index> seq;
  ASSERT_TRUE(kv.allocate(4, seq));
  register_all(kv, seq, seq_hashes(1000, 4));
  kv.release(seq);  // tail first: 1003 is the least recently used, 1000 the most
  EXPECT_EQ(kv.inactive_blocks(), 4u);
  EXPECT_EQ(kv.free_blocks(), 0u);
  EXPECT_EQ(kv.available_blocks(), 4u);
  for (uint64_t h = 1000; h < 1004; ++h)
    EXPECT_TRUE(kv.is_cached(h));
  rec.events.clear();

  std::vector<block_index> other;
  ASSERT_TRUE(kv.allocate(1, other));
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].type, kv_event::kind::removed);
  EXPECT_THAT(rec.events[0].block_hashes, ElementsAre(1003u)) << "deepest block goes first";
  EXPECT_FALSE(kv.is_cached(1003));
  EXPECT_TRUE(kv.is_cached(1000));

  ASSERT_TRUE(kv.allocate(2, other));
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_THAT(rec.events[1].block_hashes, ElementsAre(1002u, 1001u));
  EXPECT_TRUE(kv.is_cached(1000)) << "the shared prefix outlives its suffixes";
  EXPECT_EQ(kv.inactive_blocks(), 1u);
  expect_partition(kv);
}

TEST(kv_block_manager, reuse_refreshes_lru_position) {
  kv_block_manager kv{3, true};
  std::vector<block_index> a;
  std::vector<block_index> b;
  ASSERT_TRUE(kv.allocate(2, a));
  register_all(kv, a, {10, 11});
  ASSERT_TRUE(kv.allocate(1, b));
  register_all(kv, b, {20});
  kv.release(a);  // LRU: 11, 10
  kv.release(b);  // LRU: 11, 10, 20
  auto again = kv.acquire_cached(11);
  EXPECT_EQ(again, a[1]);
  EXPECT_EQ(kv.inactive_blocks(), 2u);
  EXPECT_EQ(kv.active_blocks(), 1u);
  kv.release(std::vector<block_index>{again});  // LRU: 10, 20, 11
  std::vector<block_index> fresh;
  ASSERT_TRUE(kv.allocate(1, fresh));
  EXPECT_FALSE(kv.is_cached(10));
  EXPECT_TRUE(kv.is_cached(11));
  EXPECT_TRUE(kv.is_cached(20));
  ASSERT_TRUE(kv.allocate(1, fresh));
  EXPECT_FALSE(kv.is_cached(20));
  EXPECT_TRUE(kv.is_cached(11));
}

TEST(kv_block_manager, shared_blocks_are_reference_counted) {
  kv_block_manager kv{2, true};
  std::vector<block_index> a;
  ASSERT_TRUE(kv.allocate(1, a));
  register_all(kv, a, {7});
  auto shared = kv.acquire_cached(7);
  EXPECT_EQ(shared, a[0]);
  EXPECT_EQ(kv.ref_count(shared), 2u);
  EXPECT_EQ(kv.active_blocks(), 1u) << "a shared block counts once";
  kv.release(a);
  EXPECT_EQ(kv.ref_count(shared), 1u);
  EXPECT_EQ(kv.inactive_blocks(), 0u);
  kv.release(std::vector<block_index>{shared});
  EXPECT_EQ(kv.inactive_blocks(), 1u);
  EXPECT_EQ(kv.active_blocks(), 0u);
}

TEST(kv_block_manager, prefix_match_counts_leading_hits_and_inactive_ones) {
  kv_block_manager kv{8, true};
  std::vector<block_index> a;
  ASSERT_TRUE(kv.allocate(3, a));
  register_all(kv, a, {1, 2, 3});
  kv.release(std::span{a}.subspan(1));  // blocks for 2 and 3 become inactive
  auto m = kv.match_prefix(std::vector<uint64_t>{1, 2, 3, 4});
  EXPECT_EQ(m.blocks, 3u);
  EXPECT_EQ(m.inactive, 2u);
  m = kv.match_prefix(std::vector<uint64_t>{1, 9, 3});
  EXPECT_EQ(m.blocks, 1u) << "matching stops at the first miss";
  EXPECT_EQ(kv.match_prefix(std::vector<uint64_t>{9, 1}).blocks, 0u);
  EXPECT_EQ(kv.match_prefix({}).blocks, 0u);
}

TEST(kv_block_manager, stored_events_chain_from_their_parent_with_increasing_ids) {
  kv_block_manager kv{8, true};
  recorder rec;
  kv.set_event_sink(rec.sink());
  EXPECT_EQ(kv.next_event_id(), 1u);
  std::vector<block_index> seq;
  ASSERT_TRUE(kv.allocate(5, seq));
  register_all(kv, std::vector(seq.begin(), seq.begin() + 3), {100, 101, 102});
  register_all(kv, std::vector(seq.begin() + 3, seq.end()), {103, 104}, 102);
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[0].event_id, 1u);
  EXPECT_EQ(rec.events[0].type, kv_event::kind::stored);
  EXPECT_THAT(rec.events[0].block_hashes, ElementsAre(100u, 101u, 102u));
  EXPECT_THAT(rec.events[0].token_hashes, ElementsAre(1100u, 1101u, 1102u));
  EXPECT_FALSE(rec.events[0].parent_hash.has_value());
  EXPECT_EQ(rec.events[1].event_id, 2u);
  EXPECT_THAT(rec.events[1].block_hashes, ElementsAre(103u, 104u));
  EXPECT_EQ(rec.events[1].parent_hash, std::optional<uint64_t>{102u});
  EXPECT_EQ(kv.next_event_id(), 3u);
}

TEST(kv_block_manager, duplicate_content_stays_private_and_splits_the_event) {
  kv_block_manager kv{8, true};
  recorder rec;
  kv.set_event_sink(rec.sink());
  std::vector<block_index> first;
  ASSERT_TRUE(kv.allocate(1, first));
  register_all(kv, first, {51});
  std::vector<block_index> second;
  ASSERT_TRUE(kv.allocate(3, second));
  register_all(kv, second, {50, 51, 52});  // 51 is already cached in `first`
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_THAT(rec.events[1].block_hashes, ElementsAre(50u));
  EXPECT_FALSE(rec.events[1].parent_hash.has_value());
  EXPECT_THAT(rec.events[2].block_hashes, ElementsAre(52u));
  EXPECT_EQ(rec.events[2].parent_hash, std::optional<uint64_t>{51u});
  kv.release(second);
  EXPECT_EQ(kv.inactive_blocks(), 2u) << "the duplicate block must not enter the cache";
  EXPECT_EQ(kv.free_blocks(), 5u);
  kv.release(first);
  EXPECT_EQ(kv.inactive_blocks(), 3u);
  expect_partition(kv);
}

TEST(kv_block_manager, event_ids_stay_strictly_increasing_across_kinds) {
  kv_block_manager kv{2, true};
  recorder rec;
  kv.set_event_sink(rec.sink());
  for (uint64_t round = 0; round < 5; ++round) {
    std::vector<block_index> b;
    ASSERT_TRUE(kv.allocate(2, b));
    register_all(kv, b, {round * 10, round * 10 + 1});
    kv.release(b);
  }
  ASSERT_GE(rec.events.size(), 9u);
  for (size_t i = 0; i < rec.events.size(); ++i)
    EXPECT_EQ(rec.events[i].event_id, i + 1) << "event " << i;
  EXPECT_EQ(rec.events[1].type, kv_event::kind::removed);
}

TEST(kv_block_manager, without_prefix_caching_nothing_is_cached_or_reported) {
  kv_block_manager kv{4, false};
  recorder rec;
  kv.set_event_sink(rec.sink());
  std::vector<block_index> b;
  ASSERT_TRUE(kv.allocate(2, b));
  register_all(kv, b, {1, 2});
  EXPECT_FALSE(kv.is_cached(1));
  EXPECT_EQ(kv.match_prefix(std::vector<uint64_t>{1}).blocks, 0u);
  kv.release(b);
  EXPECT_EQ(kv.free_blocks(), 4u);
  EXPECT_THAT(rec.events, IsEmpty());
}

TEST(kv_block_manager, no_sink_means_no_event_ids_consumed) {
  kv_block_manager kv{2, true};
  std::vector<block_index> b;
  ASSERT_TRUE(kv.allocate(1, b));
  register_all(kv, b, {1});
  EXPECT_EQ(kv.next_event_id(), 1u);
  EXPECT_TRUE(kv.is_cached(1)) << "caching works without a sink";
}

TEST(kv_block_manager, snapshot_groups_chains_and_puts_parents_first) {
  kv_block_manager kv{16, true};
  recorder rec;
  kv.set_event_sink(rec.sink());
  // Trunk 1000..1003, a branch 1100..1101 off 1001, and a lone chain 2000 with parent 77.
  std::vector<block_index> trunk;
  ASSERT_TRUE(kv.allocate(4, trunk));
  register_all(kv, trunk, seq_hashes(1000, 4));
  std::vector<block_index> branch;
  ASSERT_TRUE(kv.allocate(2, branch));
  register_all(kv, branch, seq_hashes(1100, 2), 1001);
  std::vector<block_index> lone;
  ASSERT_TRUE(kv.allocate(1, lone));
  register_all(kv, lone, {2000}, 77);
  kv.release(branch);  // inactive blocks belong to the snapshot as well

  auto snap = kv.snapshot();
  ASSERT_EQ(snap.size(), 3u) << "one stored event per maximal chain run";
  for (const auto& ev : snap) {
    EXPECT_EQ(ev.event_id, 0u);
    EXPECT_EQ(ev.type, kv_event::kind::stored);
    EXPECT_EQ(ev.block_hashes.size(), ev.token_hashes.size());
    for (size_t i = 0; i < ev.block_hashes.size(); ++i)
      EXPECT_EQ(ev.token_hashes[i], ev.block_hashes[i] + 1000) << "local hash of a block";
  }
  EXPECT_THAT(snap[0].block_hashes, ElementsAre(1000u, 1001u, 1002u, 1003u));
  EXPECT_FALSE(snap[0].parent_hash);
  EXPECT_THAT(snap[1].block_hashes, ElementsAre(1100u, 1101u));
  EXPECT_EQ(snap[1].parent_hash, std::optional<uint64_t>{1001u});
  EXPECT_THAT(snap[2].block_hashes, ElementsAre(2000u));
  EXPECT_EQ(snap[2].parent_hash, std::optional<uint64_t>{77u})
    << "a parent that is not cached here is still reported, as the stored event did";
  EXPECT_EQ(kv.next_event_id(), 4u) << "a snapshot emits no events";
}

TEST(kv_block_manager, snapshot_leaves_out_evicted_blocks_and_keeps_orphans) {
  kv_block_manager kv{4, true};
  std::vector<block_index> seq;
  ASSERT_TRUE(kv.allocate(4, seq));
  register_all(kv, seq, seq_hashes(1000, 4));
  // The first two blocks stay referenced; the last two are released tail first and evicted.
  kv.release(std::span{seq}.subspan(2));
  std::vector<block_index> other;
  ASSERT_TRUE(kv.allocate(1, other));
  auto snap = kv.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_THAT(snap[0].block_hashes, ElementsAre(1000u, 1001u, 1002u));
  EXPECT_FALSE(kv.is_cached(1003));
}

TEST(kv_block_manager, snapshot_is_empty_without_prefix_caching_or_blocks) {
  kv_block_manager off{4, false};
  std::vector<block_index> b;
  ASSERT_TRUE(off.allocate(2, b));
  register_all(off, b, {1, 2});
  EXPECT_THAT(off.snapshot(), IsEmpty());
  kv_block_manager empty{4, true};
  EXPECT_THAT(empty.snapshot(), IsEmpty());
}

TEST(kv_block_manager, snapshot_branches_continue_with_the_first_child) {
  kv_block_manager kv{16, true};
  // Root 1 with three children 10, 20, 30 (in registration order); 20 has a child 21.
  std::vector<block_index> root;
  ASSERT_TRUE(kv.allocate(1, root));
  register_all(kv, root, {1});
  for (uint64_t child : {10u, 20u, 30u}) {
    std::vector<block_index> b;
    ASSERT_TRUE(kv.allocate(1, b));
    register_all(kv, b, {child}, 1);
  }
  std::vector<block_index> grandchild;
  ASSERT_TRUE(kv.allocate(1, grandchild));
  register_all(kv, grandchild, {21}, 20);
  auto snap = kv.snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_THAT(snap[0].block_hashes, ElementsAre(1u, 10u));
  EXPECT_THAT(snap[1].block_hashes, ElementsAre(20u, 21u));
  EXPECT_EQ(snap[1].parent_hash, std::optional<uint64_t>{1u});
  EXPECT_THAT(snap[2].block_hashes, ElementsAre(30u));
  EXPECT_EQ(snap[2].parent_hash, std::optional<uint64_t>{1u});
}

} // namespace
} // namespace dynamo::batching
