#include "dynamo/reference/sampler.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using namespace dynamo;
using namespace dynamo::reference;

namespace {

engine::sampling_params params(float temperature, float top_p = 1.0f, int32_t top_k = 0) {
  engine::sampling_params p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  return p;
}

std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::mt19937 gen{seed};
  std::normal_distribution<float> dist{0.0f, 3.0f};
  std::vector<float> out(n);
  for (auto& x : out)
    x = dist(gen);
  return out;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    sum += p[i] = std::exp((logits[i] - max) / temperature);
  for (auto& x : p)
    x /= sum;
  return p;
}

// Empirical token frequencies over `draws` positions of one stream.
std::vector<double> frequencies(const std::vector<float>& logits,
                                const engine::sampling_params& p, uint32_t draws) {
  sampler_scratch scratch;
  std::vector<double> counts(logits.size(), 0.0);
  for (uint32_t pos = 0; pos < draws; ++pos)
    counts[sample(logits, p, 42, pos, scratch)] += 1.0;
  for (auto& c : counts)
    c /= draws;
  return counts;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                  double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tolerance) << "token " << i;
}

} // namespace

TEST(sampler, validate_rejects_insane_parameters) {
  EXPECT_FALSE(validate(params(0.0f)));
  EXPECT_FALSE(validate(params(1.5f, 0.5f, 40)));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const auto& bad : {params(nan), params(-0.1f), params(inf), params(1.0f, 0.0f),
                          params(1.0f, 1.5f), params(1.0f, nan), params(1.0f, 1.0f, -1)}) {
    const auto err = validate(bad);
    ASSERT_TRUE(err);
    EXPECT_EQ(classify(err), errc::invalid_request);
  }
  EXPECT_NE(client_message(validate(params(-1.0f))).find("temperature"), std::string::npos);
  EXPECT_NE(client_message(validate(params(1.0f, 2.0f))).find("top_p"), std::string::npos);
  EXPECT_NE(client_message(validate(params(1.0f, 1.0f, -3))).find("top_k"), std::string::npos);
}

TEST(sampler, greedy_takes_the_lowest_index_among_equal_maxima) {
  sampler_scratch scratch;
  const std::vector<float> logits{0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  for (uint64_t seed : {0ull, 1ull, 99ull})
    EXPECT_EQ(sample(logits, params(0.0f), seed, 7, scratch), 1u);
}

TEST(sampler, nan_never_wins_and_a_row_without_finite_maximum_is_greedy) {
  sampler_scratch scratch;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> with_nan{nan, 1.0f, nan, 0.5f};
  EXPECT_EQ(sample(with_nan, params(0.0f), 1, 0, scratch), 1u);
  for (uint32_t pos = 0; pos < 200; ++pos) {
    const auto t = sample(with_nan, params(1.0f), 1, pos, scratch);
    EXPECT_TRUE(t == 1u || t == 3u) << t;
  }
  const std::vector<float> all_neg_inf(8, -inf);
  EXPECT_EQ(sample(all_neg_inf, params(1.0f), 1, 0, scratch), 0u);
  const std::vector<float> pos_inf{0.0f, inf, 3.0f};
  EXPECT_EQ(sample(pos_inf, params(1.0f), 1, 0, scratch), 1u);
}

TEST(sampler, top_k_one_and_tiny_top_p_equal_greedy) {
  sampler_scratch scratch;
  for (uint32_t trial = 0; trial < 20; ++trial) {
    auto logits = random_logits(1000, trial);
    const auto greedy = sample(logits, params(0.0f), 0, 0, scratch);
    for (uint32_t pos = 0; pos < 10; ++pos) {
      EXPECT_EQ(sample(logits, params(1.0f, 1.0f, 1), trial, pos, scratch), greedy);
      EXPECT_EQ(sample(logits, params(1.0f, 1e-6f), trial, pos, scratch), greedy);
      EXPECT_EQ(sample(logits, params(2.0f, 1e-6f, 50), trial, pos, scratch), greedy);
    }
  }
}

TEST(sampler, draws_depend_only_on_seed_and_position) {
  sampler_scratch a;
  sampler_scratch b;
  const auto logits = random_logits(4096, 3);
  const auto p = params(0.8f, 0.9f);
  std::vector<engine::token_id> first;
  std::vector<engine::token_id> second;
  std::vector<engine::token_id> other_seed;
  for (uint32_t pos = 0; pos < 50; ++pos)
    first.push_back(sample(logits, p, 1234, pos, a));
  // Reverse order and a different scratch: still the same token at each position.
  second.resize(50);
  for (uint32_t pos = 50; pos-- > 0;)
    second[pos] = sample(logits, p, 1234, pos, b);
  for (uint32_t pos = 0; pos < 50; ++pos)
    other_seed.push_back(sample(logits, p, 1235, pos, a));
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other_seed);
}

TEST(sampler, uniform_draw_is_in_range_and_roughly_uniform) {
  double sum = 0;
  std::vector<int> buckets(10, 0);
  constexpr uint32_t n = 100000;
  for (uint32_t pos = 0; pos < n; ++pos) {
    const double u = uniform_draw(77, pos);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    ++buckets[static_cast<size_t>(u * 10)];
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
  for (int b : buckets)
    EXPECT_NEAR(b, n / 10, n / 100);
  EXPECT_NE(uniform_draw(1, 0), uniform_draw(2, 0));
  EXPECT_NE(uniform_draw(1, 0), uniform_draw(1, 1));
}

TEST(sampler, empirical_frequencies_match_softmax) {
  const std::vector<float> logits{1.0f, 2.0f, 0.5f, 3.0f, -1.0f};
  expect_close(frequencies(logits, params(1.0f), 40000), softmax(logits, 1.0), 0.01);
}

TEST(sampler, temperature_sharpens_and_flattens) {
  const std::vector<float> logits{1.0f, 2.0f, 0.5f, 3.0f, -1.0f};
  const auto sharp = frequencies(logits, params(0.5f), 40000);
  const auto flat = frequencies(logits, params(4.0f), 40000);
  expect_close(sharp, softmax(logits, 0.5), 0.01);
  expect_close(flat, softmax(logits, 4.0), 0.01);
  EXPECT_GT(sharp[3], 0.8);
  EXPECT_LT(flat[3], 0.4);
}

TEST(sampler, top_k_renormalises_over_the_k_best) {
  const std::vector<float> logits{1.0f, 2.0f, 0.5f, 3.0f, -1.0f};
  const auto got = frequencies(logits, params(1.0f, 1.0f, 2), 40000);
  const double e1 = std::exp(2.0);
  const double e3 = std::exp(3.0);
  expect_close(got, {0.0, e1 / (e1 + e3), 0.0, e3 / (e1 + e3), 0.0}, 0.01);
}

TEST(sampler, top_p_keeps_the_smallest_prefix_reaching_the_mass) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps the first two, renormalised.
  const std::vector<float> logits{std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                  std::log(0.3f)};
  expect_close(frequencies(logits, params(1.0f, 0.7f), 40000), {0.0, 0.625, 0.0, 0.375}, 0.01);
  // top_p 0.81 is not reached by the first two (0.8): a third token joins.
  const auto three = frequencies(logits, params(1.0f, 0.81f), 40000);
  EXPECT_GT(three[0], 0.1);
  EXPECT_EQ(three[2], 0.0);
  // top_k then top_p: top_k 3 leaves 0.5/0.95, 0.3/0.95, 0.15/0.95; top_p 0.6 keeps two.
  expect_close(frequencies(logits, params(1.0f, 0.6f, 3), 40000), {0.0, 0.625, 0.0, 0.375},
               0.01);
}

TEST(sampler, nucleus_over_a_large_vocabulary_matches_a_full_sort) {
  sampler_scratch scratch;
  const auto logits = random_logits(32000, 11);
  const auto probs = softmax(logits, 0.7);
  std::vector<uint32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&logits](uint32_t a, uint32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  for (const float top_p : {0.5f, 0.9f, 0.99f}) {
    std::vector<bool> in_nucleus(logits.size(), false);
    double mass = 0;
    for (const auto id : order) {
      if (mass >= top_p)
        break;
      in_nucleus[id] = true;
      mass += probs[id];
    }
    for (uint32_t pos = 0; pos < 40; ++pos) {
      const auto t = sample(logits, params(0.7f, top_p), 5, pos, scratch);
      ASSERT_LT(t, logits.size());
      EXPECT_TRUE(in_nucleus[t]) << "token " << t << " outside the top_p " << top_p
                                 << " nucleus at position " << pos;
    }
  }
}
