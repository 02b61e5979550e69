#include "dynamo/kv_router/selector.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace dynamo::kv_router {
namespace {

constexpr uint32_t bs = 16;

candidate cand(worker_key w, uint64_t prefill_blocks, uint64_t decode_blocks,
               uint64_t indexed = 0, uint32_t active = 0) {
  candidate c;
  c.worker = w;
  c.prefill_tokens = prefill_blocks * bs;
  c.decode_blocks = decode_blocks;
  c.indexed_blocks = indexed;
  c.active_requests = active;
  return c;
}

/// Pearson's chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& p) {
  int n = 0;
  for (auto c : counts)
    n += c;
  double chi = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = p[i] * n;
    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

TEST(selector, cost_is_weighted_prefill_blocks_plus_decode_blocks) {
  auto c = cand(1, 8, 10);
  EXPECT_DOUBLE_EQ(candidate_cost(c, bs, 1.0), 18.0);
  EXPECT_DOUBLE_EQ(candidate_cost(c, bs, 0.0), 10.0);
  EXPECT_DOUBLE_EQ(candidate_cost(c, bs, 2.5), 30.0);
  c.prefill_tokens = 24;  // one and a half blocks: prefill blocks are fractional
  EXPECT_DOUBLE_EQ(candidate_cost(c, bs, 1.0), 11.5);
  EXPECT_DOUBLE_EQ(candidate_cost(c, 0, 1.0), 34.0) << "block size 0 counts tokens as blocks";
}

TEST(selector, anchor_worked_example_picks_the_cheapest_worker) {
  // docs/design-docs/router-design.md: costs 8+10=18, 5+5=10, 2+9=11 -> the second worker.
  std::vector<candidate> cs{cand(1, 8, 10), cand(2, 5, 5), cand(3, 2, 9)};
  worker_selector s{{}, 1};
  EXPECT_EQ(s.select(cs, bs), 1u);
}

TEST(selector, ties_go_to_fewer_indexed_blocks_then_fewer_requests_then_rotate) {
  worker_selector s{{}, 1};
  std::vector<candidate> cs{cand(1, 4, 6, 50, 0), cand(2, 6, 4, 10, 3), cand(3, 5, 5, 10, 1)};
  EXPECT_EQ(s.select(cs, bs), 2u) << "equal cost 10: indexed 10 beats 50, then 1 request < 3";
  cs[2].active_requests = 3;
  std::vector<int> counts(3);
  for (int i = 0; i < 10; ++i)
    ++counts[s.select(cs, bs)];
  EXPECT_EQ(counts, (std::vector<int>{0, 5, 5})) << "full ties alternate deterministically";
  cs[0].decode_blocks = 5;  // now strictly cheapest
  EXPECT_EQ(s.select(cs, bs), 0u) << "a lower cost beats any tie-break";
}

TEST(selector, costs_within_rounding_are_ties) {
  // At weight 0.1: 0.1 × 3 + 5 = 5.3 but 0.1 × 23 + 3 = 5.300000000000001 in doubles.
  std::vector<candidate> cs{cand(1, 3, 5, 50), cand(2, 23, 3, 1)};
  ASSERT_NE(candidate_cost(cs[0], bs, 0.1), candidate_cost(cs[1], bs, 0.1));
  worker_selector s{{}, 1};
  EXPECT_EQ(s.select(cs, bs, {0.1, {}}), 1u) << "equal costs fall through to indexed blocks";
}

TEST(selector, softmax_prefers_lower_cost_in_proportion) {
  // Costs 0, 5, 10: normalised 0, 0.5, 1; at T = 0.5, p ∝ e^0, e^-1, e^-2.
  std::vector<candidate> cs{cand(1, 0, 0), cand(2, 0, 5), cand(3, 0, 10)};
  worker_selector s{{1.0, 0.5}, 7};
  std::vector<int> counts(3);
  for (int i = 0; i < 10000; ++i)
    ++counts[s.select(cs, bs)];
  const double z = 1 + std::exp(-1.0) + std::exp(-2.0);
  const std::vector<double> p{1 / z, std::exp(-1.0) / z, std::exp(-2.0) / z};
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], counts[2]);
  EXPECT_LT(chi_square(counts, p), 20.0)
    << "counts " << counts[0] << " " << counts[1] << " " << counts[2]
    << " should follow p = " << p[0] << " " << p[1] << " " << p[2];
}

TEST(selector, softmax_over_equal_costs_is_uniform) {
  std::vector<candidate> cs{cand(1, 2, 3, 0), cand(2, 2, 3, 100), cand(3, 2, 3, 1000),
                            cand(4, 2, 3, 7)};
  worker_selector s{{1.0, 2.0}, 11};
  std::vector<int> counts(4);
  for (int i = 0; i < 10000; ++i)
    ++counts[s.select(cs, bs)];
  EXPECT_LT(chi_square(counts, {0.25, 0.25, 0.25, 0.25}), 20.0)
    << "counts " << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
}

TEST(selector, softmax_draws_are_reproducible_from_the_seed) {
  std::vector<candidate> cs{cand(1, 0, 0), cand(2, 0, 1), cand(3, 0, 2)};
  worker_selector a{{1.0, 1.0}, 99};
  worker_selector b{{1.0, 1.0}, 99};
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(a.select(cs, bs), b.select(cs, bs)) << "draw " << i;
}

TEST(selector, overrides_replace_the_defaults_for_one_call) {
  // Worker 1 must prefill a lot but holds little; worker 2 the opposite.
  std::vector<candidate> cs{cand(1, 20, 5), cand(2, 2, 15)};
  worker_selector s{{}, 3};
  EXPECT_EQ(s.select(cs, bs), 1u) << "weight 1: 25 vs 17";
  EXPECT_EQ(s.select(cs, bs, {0.0, {}}), 0u) << "weight 0 ignores prefill: 5 vs 15";
  EXPECT_EQ(s.select(cs, bs), 1u) << "the override does not stick";
  std::vector<int> counts(2);
  for (int i = 0; i < 2000; ++i)
    ++counts[s.select(cs, bs, {{}, 1.0})];
  EXPECT_GT(counts[0], 200) << "a temperature override makes the costlier worker drawn too";
  EXPECT_GT(counts[1], counts[0]);
}

TEST(selector, invalid_overrides_and_configs_are_reported) {
  EXPECT_FALSE(validate(routing_overrides{}));
  EXPECT_FALSE(validate(routing_overrides{0.0, 0.0}));
  const auto nan = std::numeric_limits<double>::quiet_NaN();
  const auto inf = std::numeric_limits<double>::infinity();
  for (auto bad : {routing_overrides{-1.0, {}}, routing_overrides{nan, {}},
                   routing_overrides{{}, -0.5}, routing_overrides{{}, inf}}) {
    auto err = validate(bad);
    EXPECT_EQ(classify(err), errc::invalid_request) << describe(err);
  }
  EXPECT_EQ(classify(validate(selector_config{-1.0, 0.0})), errc::invalid_request);
  EXPECT_EQ(classify(validate(busy_thresholds{nan, 0, 0})), errc::invalid_request);

  worker_selector s{{}, 3};
  std::vector<candidate> cs{cand(1, 20, 5), cand(2, 2, 15)};
  EXPECT_EQ(s.select(cs, bs, {-5.0, nan}), 1u) << "invalid overrides fall back to the defaults";
  EXPECT_EQ(classify(s.set_config({nan, 0.0})), errc::invalid_request);
  EXPECT_DOUBLE_EQ(s.config().overlap_weight, 1.0) << "a rejected config changes nothing";
  EXPECT_FALSE(s.set_config({0.0, 0.0}));
  EXPECT_EQ(s.select(cs, bs), 0u);
}

TEST(selector, busy_thresholds) {
  const load_snapshot l{4, 1000, 90};
  EXPECT_FALSE(is_busy(l, 100, {})) << "all thresholds disabled";
  EXPECT_TRUE(is_busy(l, 100, {0.85, 0, 0}));
  EXPECT_FALSE(is_busy(l, 100, {0.9, 0, 0})) << "at the threshold is not above it";
  EXPECT_FALSE(is_busy(l, 0, {0.1, 0, 0})) << "unknown capacity disables kv_usage";
  EXPECT_TRUE(is_busy(l, 100, {0.0, 999, 0}));
  EXPECT_FALSE(is_busy(l, 100, {0.0, 1000, 0}));
  EXPECT_TRUE(is_busy(l, 100, {0.0, 0, 3}));
  EXPECT_FALSE(is_busy(l, 100, {0.0, 0, 4}));
  EXPECT_TRUE(is_busy(l, 100, {0.99, 5000, 3})) << "any exceeded threshold makes it busy";
}

} // namespace
} // namespace dynamo::kv_router
