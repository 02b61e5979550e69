#include "dynamo/actors/router/policy.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace dynamo::actors {
namespace {

std::vector<worker_load> loads(std::initializer_list<uint32_t> active) {
  std::vector<worker_load> result;
  uint64_t id = 1;
  for (auto a : active)
    result.push_back(worker_load{instance_id{id++}, a, a * 100ull});
  return result;
}

TEST(routing_policy, round_robin_cycles_in_order) {
  round_robin_policy p;
  auto w = loads({5, 0, 9});
  std::vector<size_t> picks;
  for (int i = 0; i < 6; ++i)
    picks.push_back(p.pick(w, 10));
  EXPECT_EQ(picks, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(routing_policy, random_covers_all_workers_and_is_seeded) {
  random_policy a{42};
  random_policy b{42};
  auto w = loads({0, 0, 0, 0});
  std::map<size_t, int> counts;
  for (int i = 0; i < 400; ++i) {
    auto x = a.pick(w, 1);
    EXPECT_EQ(x, b.pick(w, 1)) << "same seed must give the same sequence";
    ASSERT_LT(x, w.size());
    ++counts[x];
  }
  EXPECT_EQ(counts.size(), 4u);
  for (const auto& [idx, n] : counts)
    EXPECT_GT(n, 50) << "worker " << idx << " picked too rarely";
}

TEST(routing_policy, least_loaded_prefers_fewest_active_requests) {
  least_loaded_policy p;
  auto w = loads({3, 1, 2});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(p.pick(w, 1), 1u);
}

TEST(routing_policy, least_loaded_breaks_ties_by_tokens_then_rotates) {
  least_loaded_policy p;
  std::vector<worker_load> w{{instance_id{1}, 1, 500}, {instance_id{2}, 1, 100}};
  EXPECT_EQ(p.pick(w, 1), 1u);
  auto equal = loads({0, 0, 0});
  std::map<size_t, int> counts;
  for (int i = 0; i < 9; ++i)
    ++counts[p.pick(equal, 1)];
  EXPECT_EQ(counts.size(), 3u) << "ties must not always go to the same worker";
}

TEST(routing_policy, make_policy_by_name) {
  for (auto name : {"round-robin", "random", "least-loaded"}) {
    auto p = make_policy(name, 1);
    ASSERT_TRUE(p) << name;
    EXPECT_EQ((*p)->name(), name);
  }
  auto bad = make_policy("fastest", 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), errc::invalid_request);
  EXPECT_NE(client_message(bad.error()).find("least-loaded"), std::string::npos);
}

} // namespace
} // namespace dynamo::actors
