#include "dynamo/kv_router/event_history.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace dynamo::kv_router {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

engine::kv_event event(uint64_t id) {
  engine::kv_event ev;
  ev.event_id = id;
  ev.type = engine::kv_event::kind::stored;
  ev.block_hashes = {id * 100, id * 100 + 1};
  ev.token_hashes = {id, id + 1};
  ev.parent_hash = id * 10;
  return ev;
}

std::vector<uint64_t> ids(const std::optional<std::vector<engine::kv_event>>& events) {
  std::vector<uint64_t> result;
  if (events)
    for (const auto& ev : *events)
      result.push_back(ev.event_id);
  return result;
}

TEST(event_history, starts_empty) {
  event_history h{4};
  EXPECT_EQ(h.last_event_id(), 0u);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.capacity(), 4u);
  EXPECT_THAT(h.since(0), Optional(IsEmpty())) << "nothing is missing before any event";
  EXPECT_FALSE(h.since(1)) << "a caller ahead of the history needs a dump";
}

TEST(event_history, returns_the_events_after_an_id_in_order_and_intact) {
  event_history h{8};
  for (uint64_t id = 1; id <= 5; ++id)
    h.append(event(id));
  EXPECT_EQ(h.last_event_id(), 5u);
  EXPECT_EQ(h.dropped_event_id(), 0u);
  EXPECT_THAT(ids(h.since(0)), ElementsAre(1u, 2u, 3u, 4u, 5u));
  EXPECT_THAT(ids(h.since(3)), ElementsAre(4u, 5u));
  EXPECT_THAT(h.since(5), Optional(IsEmpty()));
  EXPECT_FALSE(h.since(6));
  auto got = h.since(4);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  const auto& ev = got->front();
  auto want = event(5);
  EXPECT_EQ(ev.type, want.type);
  EXPECT_EQ(ev.block_hashes, want.block_hashes);
  EXPECT_EQ(ev.token_hashes, want.token_hashes);
  EXPECT_EQ(ev.parent_hash, want.parent_hash);
}

TEST(event_history, the_oldest_events_drop_out_and_ranges_over_them_are_refused) {
  event_history h{4};
  for (uint64_t id = 1; id <= 10; ++id)
    h.append(event(id));
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(h.last_event_id(), 10u);
  EXPECT_EQ(h.dropped_event_id(), 6u);
  EXPECT_THAT(ids(h.since(6)), ElementsAre(7u, 8u, 9u, 10u)) << "everything after 6 is kept";
  EXPECT_THAT(ids(h.since(8)), ElementsAre(9u, 10u));
  EXPECT_FALSE(h.since(5)) << "event 6 dropped out";
  EXPECT_FALSE(h.since(0));
  EXPECT_THAT(h.since(10), Optional(IsEmpty()));
  EXPECT_FALSE(h.since(11));
}

TEST(event_history, ids_need_not_be_contiguous) {
  event_history h{2};
  h.append(event(2));
  h.append(event(5));
  EXPECT_THAT(ids(h.since(0)), ElementsAre(2u, 5u));
  EXPECT_THAT(ids(h.since(3)), ElementsAre(5u));
  h.append(event(9));
  EXPECT_EQ(h.dropped_event_id(), 2u);
  EXPECT_THAT(ids(h.since(2)), ElementsAre(5u, 9u));
  EXPECT_THAT(ids(h.since(4)), ElementsAre(5u, 9u)) << "no event 3 or 4 ever existed";
  EXPECT_FALSE(h.since(1));
}

TEST(event_history, a_capacity_of_zero_keeps_one_event) {
  event_history h{0};
  EXPECT_EQ(h.capacity(), 1u);
  h.append(event(1));
  h.append(event(2));
  EXPECT_THAT(ids(h.since(1)), ElementsAre(2u));
  EXPECT_FALSE(h.since(0));
}

TEST(event_history, wraps_around_many_times) {
  event_history h{3};
  for (uint64_t id = 1; id <= 1000; ++id) {
    h.append(event(id));
    ASSERT_THAT(ids(h.since(id > 3 ? id - 3 : 0)).back(), id);
  }
  EXPECT_THAT(ids(h.since(997)), ElementsAre(998u, 999u, 1000u));
}

TEST(event_history_death, ids_that_do_not_ascend_are_a_broken_invariant) {
  event_history h{4};
  h.append(event(3));
  EXPECT_DEATH(h.append(event(3)), "ids must ascend");
}

} // namespace
} // namespace dynamo::kv_router
