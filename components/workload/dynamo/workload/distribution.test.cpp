#include "dynamo/workload/distribution.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace dynamo::workload {
namespace {

using ::testing::HasSubstr;

distribution parsed(std::string_view text) {
  auto d = parse_distribution(text);
  if (!d) {
    ADD_FAILURE() << text << ": " << describe(d.error());
    return {};
  }
  return *d;
}

std::string rejection(std::string_view text) {
  auto d = parse_distribution(text);
  if (d) {
    ADD_FAILURE() << text << " was accepted";
    return {};
  }
  EXPECT_EQ(classify(d.error()), errc::invalid_request) << text;
  return client_message(d.error());
}

TEST(rng, same_seed_same_stream_and_seeds_differ) {
  rng a{42};
  rng b{42};
  rng c{43};
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    auto x = a.next();
    EXPECT_EQ(x, b.next());
    differ += x != c.next() ? 1 : 0;
  }
  EXPECT_EQ(differ, 100);
}

TEST(rng, uniform_and_below_stay_in_range_and_cover_it) {
  rng gen{7};
  std::vector<int> seen(10, 0);
  for (int i = 0; i < 10000; ++i) {
    auto u = gen.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    auto k = gen.below(10);
    ASSERT_LT(k, 10u);
    ++seen[k];
  }
  for (int count : seen) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
  EXPECT_EQ(gen.below(0), 0u);
  EXPECT_EQ(gen.below(1), 0u);
}

TEST(rng, exponential_and_normal_have_the_right_moments) {
  rng gen{11};
  constexpr int n = 20000;
  double exp_sum = 0.0;
  double norm_sum = 0.0;
  double norm_sq = 0.0;
  for (int i = 0; i < n; ++i) {
    auto e = gen.exponential(4.0);
    ASSERT_GE(e, 0.0);
    ASSERT_TRUE(std::isfinite(e));
    exp_sum += e;
    auto z = gen.normal();
    norm_sum += z;
    norm_sq += z * z;
  }
  EXPECT_NEAR(exp_sum / n, 0.25, 0.01);
  EXPECT_NEAR(norm_sum / n, 0.0, 0.03);
  EXPECT_NEAR(norm_sq / n, 1.0, 0.04);
}

TEST(distribution, parses_every_kind_and_round_trips) {
  EXPECT_EQ(parsed("fixed:512"), distribution::make_fixed(512));
  EXPECT_EQ(parsed("512"), distribution::make_fixed(512));
  EXPECT_EQ(parsed("uniform:100-2000"), distribution::make_uniform(100, 2000));
  EXPECT_EQ(parsed("uniform:0.5,1.5"), distribution::make_uniform(0.5, 1.5));
  EXPECT_EQ(parsed("uniform:1e2-2e3"), distribution::make_uniform(100, 2000));
  EXPECT_EQ(parsed("uniform:1e-1-2"), distribution::make_uniform(0.1, 2));
  EXPECT_EQ(parsed("normal:1000,200"), distribution::make_normal(1000, 200));
  EXPECT_EQ(parsed(" lognormal: 800 , 0.5 "), distribution::make_lognormal(800, 0.5));
  for (auto d : {distribution::make_fixed(3), distribution::make_uniform(1.25, 8),
                 distribution::make_normal(10, 0), distribution::make_lognormal(800, 0.5)})
    EXPECT_EQ(parsed(d.to_string()), d) << d.to_string();
  EXPECT_EQ(distribution::make_uniform(100, 2000).to_string(), "uniform:100-2000");
}

TEST(distribution, rejects_malformed_and_out_of_range_text) {
  EXPECT_THAT(rejection(""), HasSubstr("empty"));
  EXPECT_THAT(rejection("gamma:1,2"), HasSubstr("unknown kind 'gamma'"));
  EXPECT_THAT(rejection("fixed:"), HasSubstr("fixed needs one finite number"));
  EXPECT_THAT(rejection("fixed:12abc"), HasSubstr("fixed needs"));
  EXPECT_THAT(rejection("fixed:nan"), HasSubstr("fixed needs"));
  EXPECT_THAT(rejection("fixed:inf"), HasSubstr("fixed needs"));
  EXPECT_THAT(rejection("fixed:-3"), HasSubstr(">= 0"));
  EXPECT_THAT(rejection("uniform:100"), HasSubstr("two finite numbers"));
  EXPECT_THAT(rejection("uniform:200-100"), HasSubstr("LO <= HI"));
  EXPECT_THAT(rejection("normal:5,-1"), HasSubstr("SD >= 0"));
  EXPECT_THAT(rejection("lognormal:0,1"), HasSubstr("MEAN > 0"));
  EXPECT_THAT(rejection("lognormal:10,50"), HasSubstr("SIGMA"));
  EXPECT_THAT(rejection("abc"), HasSubstr("not a number"));
}

TEST(distribution, validate_names_the_field) {
  auto err = validate(distribution::make_uniform(5, 1), "isl");
  ASSERT_TRUE(err);
  EXPECT_THAT(client_message(err), HasSubstr("isl:"));
  EXPECT_FALSE(validate(distribution::make_fixed(0), "osl"));
  EXPECT_TRUE(validate(distribution::make_fixed(std::nan("")), "osl"));
}

TEST(distribution, counts_are_rounded_clamped_and_cover_uniform_ends) {
  rng gen{3};
  auto uniform = distribution::make_uniform(1, 4);
  std::vector<int> seen(6, 0);
  for (int i = 0; i < 4000; ++i) {
    auto x = uniform.sample_count(gen, 0, 100);
    ASSERT_GE(x, 1u);
    ASSERT_LE(x, 4u);
    ++seen[x];
  }
  for (int v = 1; v <= 4; ++v) {
    EXPECT_GT(seen[v], 850) << v;
    EXPECT_LT(seen[v], 1150) << v;
  }
  auto normal = distribution::make_normal(0, 100);
  for (int i = 0; i < 1000; ++i) {
    auto x = normal.sample_count(gen, 1, 50);
    ASSERT_GE(x, 1u);
    ASSERT_LE(x, 50u);
  }
  EXPECT_EQ(distribution::make_fixed(7.4).sample_count(gen, 1, 10), 7u);
  EXPECT_EQ(distribution::make_fixed(1e12).sample_count(gen, 1, 10), 10u);
  EXPECT_EQ(distribution::make_normal(-5, 0).sample_non_negative(gen), 0.0);
}

TEST(distribution, sample_means_match) {
  rng gen{5};
  constexpr int n = 20000;
  for (auto d : {distribution::make_uniform(100, 2000), distribution::make_normal(1000, 200),
                 distribution::make_lognormal(800, 0.5)}) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i)
      sum += d.sample(gen);
    EXPECT_NEAR(sum / n, d.mean(), d.mean() * 0.02) << d.to_string();
  }
}

TEST(weighted_choice, zipf_prefers_low_indexes_and_uniform_is_flat) {
  rng gen{9};
  auto zipf = weighted_choice::zipf(4, 1.0);
  auto flat = weighted_choice::uniform(4);
  std::vector<int> z(4, 0);
  std::vector<int> u(4, 0);
  constexpr int n = 25000;
  for (int i = 0; i < n; ++i) {
    ++z[zipf.sample(gen)];
    ++u[flat.sample(gen)];
  }
  // Zipf(1) over 4: weights 1, 1/2, 1/3, 1/4 of 25/12.
  const double h = 1.0 + 0.5 + 1.0 / 3 + 0.25;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(z[i] / double{n}, 1.0 / static_cast<double>(i + 1) / h, 0.015) << i;
    EXPECT_NEAR(u[i] / double{n}, 0.25, 0.015) << i;
  }
  EXPECT_EQ(weighted_choice::zipf(0, 1.0).size(), 1u);
  weighted_choice second_only{std::vector<double>{0.0, 1.0}};
  EXPECT_EQ(second_only.sample(gen), 1u);
}

} // namespace
} // namespace dynamo::workload
