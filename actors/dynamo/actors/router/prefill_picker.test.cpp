#include "dynamo/actors/router/prefill_picker.hpp"

#include <gtest/gtest.h>

#include <map>

namespace dynamo::actors {
namespace {

constexpr instance_id p1{0x11};
constexpr instance_id p2{0x22};
constexpr instance_id p3{0x33};

TEST(prefill_picker, nothing_to_pick_without_live_instances) {
  prefill_picker picker;
  EXPECT_TRUE(picker.empty());
  EXPECT_FALSE(picker.pick(1));
  EXPECT_EQ(picker.open(), 0u);
  EXPECT_FALSE(picker.finish(1));
}

TEST(prefill_picker, ties_rotate_through_the_instances) {
  prefill_picker picker;
  picker.apply(p1, true);
  picker.apply(p2, true);
  picker.apply(p3, true);
  // Every request finishes before the next: all instances tie each time.
  std::vector<instance_id> order;
  for (request_id id = 1; id <= 6; ++id) {
    auto pick = picker.pick(id);
    ASSERT_TRUE(pick);
    order.push_back(*pick);
    EXPECT_TRUE(picker.finish(id));
  }
  EXPECT_EQ(order, (std::vector<instance_id>{p1, p2, p3, p1, p2, p3}));
  for (const auto& x : picker.instances()) {
    EXPECT_EQ(x.active, 0u);
    EXPECT_EQ(x.assigned, 2u);
  }
}

TEST(prefill_picker, the_instance_with_fewest_open_requests_wins) {
  prefill_picker picker;
  picker.apply(p1, true);
  picker.apply(p2, true);
  EXPECT_EQ(picker.pick(1), p1);
  EXPECT_EQ(picker.pick(2), p2);
  EXPECT_EQ(picker.pick(3), p1);
  EXPECT_EQ(picker.pick(4), p2);
  // p2's requests finish: p2 is the less loaded one, twice in a row.
  EXPECT_TRUE(picker.finish(2));
  EXPECT_TRUE(picker.finish(4));
  EXPECT_EQ(picker.pick(5), p2);
  EXPECT_EQ(picker.pick(6), p2);
  EXPECT_EQ(picker.open(), 4u);
  ASSERT_EQ(picker.instances().size(), 2u);
  EXPECT_EQ(picker.instances()[0].active, 2u);
  EXPECT_EQ(picker.instances()[1].active, 2u);
  EXPECT_EQ(picker.instances()[1].assigned, 4u);
}

TEST(prefill_picker, a_vanished_instance_is_never_picked_and_its_requests_are_forgotten) {
  prefill_picker picker;
  picker.apply(p1, true);
  picker.apply(p2, true);
  EXPECT_EQ(picker.pick(1), p1);
  EXPECT_EQ(picker.pick(2), p2);
  picker.apply(p1, false);
  EXPECT_EQ(picker.open(), 1u);
  EXPECT_FALSE(picker.finish(1)) << "the assignment went with its instance";
  for (request_id id = 3; id <= 6; ++id)
    EXPECT_EQ(picker.pick(id), p2);
  picker.apply(p2, false);
  EXPECT_FALSE(picker.pick(7));
  EXPECT_EQ(picker.open(), 0u);
  picker.apply(p1, true);
  EXPECT_EQ(picker.pick(8), p1) << "a returning instance is picked again, with fresh counts";
  EXPECT_EQ(picker.instances()[0].assigned, 1u);
}

TEST(prefill_picker, repeated_ups_keep_the_counts) {
  prefill_picker picker;
  picker.apply(p1, true);
  EXPECT_EQ(picker.pick(1), p1);
  picker.apply(p1, true);  // metadata change
  ASSERT_EQ(picker.instances().size(), 1u);
  EXPECT_EQ(picker.instances()[0].active, 1u);
  picker.apply(p2, false);  // unknown: no effect
  EXPECT_EQ(picker.instances().size(), 1u);
}

TEST(prefill_picker, picking_a_request_again_moves_its_assignment) {
  prefill_picker picker;
  picker.apply(p1, true);
  picker.apply(p2, true);
  EXPECT_EQ(picker.pick(1), p1);
  EXPECT_EQ(picker.pick(1), p2) << "released first, p1 ties with p2 and the rotation moves on";
  EXPECT_EQ(picker.open(), 1u);
  EXPECT_EQ(picker.instances()[0].active, 0u);
  EXPECT_EQ(picker.instances()[1].active, 1u);
}

TEST(prefill_picker, removal_keeps_the_rotation_fair) {
  prefill_picker picker;
  picker.apply(p1, true);
  picker.apply(p2, true);
  picker.apply(p3, true);
  EXPECT_EQ(picker.pick(1), p1);
  picker.finish(1);
  EXPECT_EQ(picker.pick(2), p2);
  picker.finish(2);
  picker.apply(p1, false);  // the cursor pointed at p3 and still does
  EXPECT_EQ(picker.pick(3), p3);
  picker.finish(3);
  EXPECT_EQ(picker.pick(4), p2);
  picker.finish(4);
  std::map<uint64_t, uint64_t> assigned;
  for (const auto& x : picker.instances())
    assigned[x.instance.value] = x.assigned;
  EXPECT_EQ(assigned, (std::map<uint64_t, uint64_t>{{p2.value, 2}, {p3.value, 1}}));
}

} // namespace
} // namespace dynamo::actors
