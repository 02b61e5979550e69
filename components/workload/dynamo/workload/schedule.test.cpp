#include "dynamo/workload/schedule.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace dynamo;
using namespace dynamo::workload;
using workload_t = dynamo::workload::workload;

namespace {

request_spec spec(uint64_t id, double at_s, uint64_t session = 0, uint32_t turn = 0) {
  request_spec r;
  r.id = id;
  r.at_s = at_s;
  r.session = session;
  r.turn = turn;
  r.prompt = {1, 2, 3};
  return r;
}

std::vector<size_t> indices(const std::vector<due_request>& due) {
  std::vector<size_t> out;
  for (const auto& d : due)
    out.push_back(d.index);
  return out;
}

} // namespace

TEST(dispatch_schedule, open_loop_follows_scaled_send_times) {
  workload_t w{"t", {spec(0, 0.0), spec(1, 0.5), spec(2, 0.5), spec(3, 2.0)}};
  auto s = dispatch_schedule::make(w, {2.0, 0});
  ASSERT_TRUE(s) << describe(s.error());
  auto first = s->take_due(0.0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].index, 0u);
  EXPECT_DOUBLE_EQ(first[0].intended_s, 0.0);
  EXPECT_DOUBLE_EQ(s->next_due_s(), 0.25);
  EXPECT_TRUE(s->take_due(0.2).empty());
  auto second = s->take_due(0.3);
  EXPECT_THAT(indices(second), ::testing::ElementsAre(1u, 2u));
  EXPECT_DOUBLE_EQ(second[0].intended_s, 0.25);
  EXPECT_DOUBLE_EQ(second[1].intended_s, 0.25);
  EXPECT_DOUBLE_EQ(s->next_due_s(), 1.0);
  auto late = s->take_due(1.5);  // a late loop still reports the intended time
  ASSERT_EQ(late.size(), 1u);
  EXPECT_DOUBLE_EQ(late[0].intended_s, 1.0);
  EXPECT_TRUE(std::isinf(s->next_due_s()));
  EXPECT_EQ(s->outstanding(), 4u);
  EXPECT_FALSE(s->finished());
  for (size_t i = 0; i < 4; ++i)
    s->complete(i, 2.0);
  EXPECT_TRUE(s->finished());
}

TEST(dispatch_schedule, session_turns_wait_for_completion_plus_think_time) {
  // Session 7: first turn at 1.0, then think 0.4 and 0.2; a standalone request at 0.5.
  workload_t w{"t", {spec(0, 1.0, 7, 0), spec(1, 0.5), spec(2, 0.4, 7, 1), spec(3, 0.2, 7, 2)}};
  auto s = dispatch_schedule::make(w, {1.0, 0});
  ASSERT_TRUE(s);
  EXPECT_THAT(indices(s->take_due(1.0)), ::testing::ElementsAre(1u, 0u));
  EXPECT_TRUE(std::isinf(s->next_due_s()));  // turn 1 waits for turn 0
  EXPECT_TRUE(s->take_due(100.0).empty());
  s->complete(0, 3.0);
  EXPECT_DOUBLE_EQ(s->next_due_s(), 3.4);
  EXPECT_TRUE(s->take_due(3.39).empty());
  auto t1 = s->take_due(3.4);
  ASSERT_EQ(t1.size(), 1u);
  EXPECT_EQ(t1[0].index, 2u);
  EXPECT_DOUBLE_EQ(t1[0].intended_s, 3.4);
  s->complete(2, 5.0);
  s->complete(2, 6.0);  // a second completion is ignored
  auto t2 = s->take_due(9.0);
  ASSERT_EQ(t2.size(), 1u);
  EXPECT_EQ(t2[0].index, 3u);
  EXPECT_DOUBLE_EQ(t2[0].intended_s, 5.2);
  s->complete(1, 9.0);
  s->complete(3, 9.5);
  EXPECT_TRUE(s->finished());
  EXPECT_EQ(s->remaining(), 0u);
}

TEST(dispatch_schedule, closed_loop_keeps_concurrency_outstanding_in_workload_order) {
  workload_t w{"t", {spec(0, 5.0), spec(1, 0.0, 3, 0), spec(2, 9.0), spec(3, 7.0, 3, 1),
                   spec(4, 1.0)}};
  auto s = dispatch_schedule::make(w, {1.0, 2});
  ASSERT_TRUE(s);
  auto first = s->take_due(0.0);  // at_s is ignored
  EXPECT_THAT(indices(first), ::testing::ElementsAre(0u, 1u));
  EXPECT_TRUE(std::isinf(s->next_due_s()));
  EXPECT_TRUE(s->take_due(10.0).empty());
  s->complete(0, 0.5);
  EXPECT_DOUBLE_EQ(s->next_due_s(), 0.0);
  auto second = s->take_due(0.5);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].index, 2u);  // turn 1 of session 3 is not eligible yet
  EXPECT_DOUBLE_EQ(second[0].intended_s, 0.5);
  s->complete(1, 0.7);  // releases turn 1 without think time
  auto third = s->take_due(0.7);
  EXPECT_THAT(indices(third), ::testing::ElementsAre(3u));
  EXPECT_EQ(s->outstanding(), 2u);
  s->complete(2, 0.8);
  s->complete(3, 0.9);
  EXPECT_THAT(indices(s->take_due(0.9)), ::testing::ElementsAre(4u));
  s->complete(4, 1.0);
  EXPECT_TRUE(s->finished());
}

TEST(dispatch_schedule, bad_input_is_rejected) {
  workload_t ok{"t", {spec(0, 0.0)}};
  EXPECT_EQ(classify(dispatch_schedule::make(ok, {0.0, 0}).error()), errc::invalid_request);
  EXPECT_EQ(classify(dispatch_schedule::make(ok, {NAN, 0}).error()), errc::invalid_request);
  workload_t bad_turns{"t", {spec(0, 0.0, 1, 1)}};
  EXPECT_EQ(classify(dispatch_schedule::make(bad_turns, {}).error()), errc::invalid_request);
  workload_t empty{"t", {}};
  auto s = dispatch_schedule::make(empty, {});
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->finished());
}
