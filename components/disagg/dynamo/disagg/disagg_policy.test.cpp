#include "dynamo/disagg/disagg_policy.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace dynamo::disagg {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t never = std::numeric_limits<uint64_t>::max();

disagg_policy_config defaults() {
  return disagg_policy_config{};  // 3 ms, 4 GB/s, 8000 tokens/s, smoothing 0.2, derived.
}

TEST(disagg_policy, threshold_follows_the_model_with_free_transfers) {
  // b = 0: remote wins when n / P > L, i.e. n > 0.003 * 8000 = 24.
  disagg_policy p{defaults(), 0};
  EXPECT_EQ(p.threshold_tokens(), 25u);
  EXPECT_FALSE(p.remote(0));
  EXPECT_FALSE(p.remote(24)) << "at the break-even point local prefill is not worse";
  EXPECT_TRUE(p.remote(25));
  EXPECT_TRUE(p.remote(100000));
}

TEST(disagg_policy, threshold_accounts_for_the_transfer_time_per_token) {
  // b = 100 kB at 4 GB/s: 25 us per token against 125 us of prefill; n > 3 ms / 100 us = 30.
  disagg_policy p{defaults(), 100'000};
  EXPECT_EQ(p.threshold_tokens(), 31u);
  EXPECT_FALSE(p.remote(30));
  EXPECT_TRUE(p.remote(31));
}

TEST(disagg_policy, zero_overhead_makes_every_non_empty_prompt_remote) {
  auto cfg = defaults();
  cfg.overhead_ms = 0.0;
  disagg_policy p{cfg, 100'000};
  EXPECT_EQ(p.threshold_tokens(), 1u);
  EXPECT_FALSE(p.remote(0));
  EXPECT_TRUE(p.remote(1));
}

TEST(disagg_policy, never_remote_when_moving_a_token_costs_more_than_computing_it) {
  // 500 kB at 4 GB/s = 125 us per token = exactly the prefill time per token: no gain.
  disagg_policy equal{defaults(), 500'000};
  EXPECT_EQ(equal.threshold_tokens(), never);
  EXPECT_FALSE(equal.remote(never - 1));
  EXPECT_FALSE(equal.remote(never));
  disagg_policy slower{defaults(), 2'000'000};
  EXPECT_EQ(slower.threshold_tokens(), never);
  EXPECT_FALSE(slower.remote(1'000'000'000));
}

TEST(disagg_policy, a_tiny_margin_saturates_instead_of_overflowing) {
  auto cfg = defaults();
  cfg.overhead_ms = 1e20;  // 8e20 tokens: beyond 64 bits
  disagg_policy p{cfg, 0};
  EXPECT_EQ(p.threshold_tokens(), never);
  EXPECT_FALSE(p.remote(never));
}

TEST(disagg_policy, fixed_threshold_overrides_the_model) {
  auto cfg = defaults();
  cfg.min_remote_tokens = 512;
  disagg_policy p{cfg, 2'000'000};  // the model alone would never go remote
  EXPECT_EQ(p.threshold_tokens(), 512u);
  EXPECT_FALSE(p.remote(511));
  EXPECT_TRUE(p.remote(512));
  p.observe_transfer(1, 1.0);
  p.observe_prefill(1'000'000, 1.0);
  EXPECT_EQ(p.threshold_tokens(), 512u) << "measurements do not move a fixed threshold";

  cfg.min_remote_tokens = 0;
  disagg_policy always{cfg, 0};
  EXPECT_EQ(always.threshold_tokens(), 0u);
  EXPECT_TRUE(always.remote(0));
  EXPECT_TRUE(always.remote(1));
}

TEST(disagg_policy, estimates_start_at_the_priors) {
  disagg_policy p{defaults(), 0};
  EXPECT_DOUBLE_EQ(p.bandwidth_bytes_per_s(), 4e9);
  EXPECT_DOUBLE_EQ(p.prefill_tokens_per_s(), 8000.0);
}

TEST(disagg_policy, measurements_move_the_estimates_by_the_smoothing_weight) {
  disagg_policy p{defaults(), 0};
  p.observe_transfer(1'000'000'000, 1.0);
  EXPECT_DOUBLE_EQ(p.bandwidth_bytes_per_s(), 0.8 * 4e9 + 0.2 * 1e9);
  p.observe_prefill(2000, 0.5);
  EXPECT_DOUBLE_EQ(p.prefill_tokens_per_s(), 0.8 * 8000.0 + 0.2 * 4000.0);
}

TEST(disagg_policy, estimates_converge_to_steady_measurements) {
  disagg_policy p{defaults(), 100'000};
  for (int i = 0; i < 200; ++i) {
    p.observe_transfer(500'000'000, 0.5);  // 1 GB/s
    p.observe_prefill(10'000, 0.5);        // 20000 tokens/s
  }
  EXPECT_NEAR(p.bandwidth_bytes_per_s(), 1e9, 1.0);
  EXPECT_NEAR(p.prefill_tokens_per_s(), 20000.0, 1e-6);
  // 1/P = 50 us, b/BW = 100 us: transfers are now slower than prefilling.
  EXPECT_EQ(p.threshold_tokens(), never);
  for (int i = 0; i < 200; ++i)
    p.observe_transfer(20'000'000'000, 1.0);  // 20 GB/s: 5 us per token
  // n > 3 ms / 45 us = 66.7.
  EXPECT_EQ(p.threshold_tokens(), 67u);
}

TEST(disagg_policy, full_smoothing_takes_the_last_sample) {
  auto cfg = defaults();
  cfg.smoothing = 1.0;
  disagg_policy p{cfg, 0};
  p.observe_prefill(1000, 1.0);
  EXPECT_DOUBLE_EQ(p.prefill_tokens_per_s(), 1000.0);
  EXPECT_EQ(p.threshold_tokens(), 4u) << "n > 3 ms * 1000 tokens/s = 3";
}

TEST(disagg_policy, unusable_samples_are_ignored) {
  disagg_policy p{defaults(), 0};
  p.observe_transfer(0, 1.0);
  p.observe_transfer(1000, 0.0);
  p.observe_transfer(1000, -1.0);
  p.observe_transfer(1000, std::nan(""));
  p.observe_transfer(1000, std::numeric_limits<double>::infinity());
  p.observe_prefill(0, 1.0);
  p.observe_prefill(1000, 0.0);
  p.observe_prefill(1000, std::nan(""));
  EXPECT_DOUBLE_EQ(p.bandwidth_bytes_per_s(), 4e9);
  EXPECT_DOUBLE_EQ(p.prefill_tokens_per_s(), 8000.0);
}

TEST(disagg_policy_config, validate_accepts_the_defaults_and_names_bad_fields) {
  EXPECT_FALSE(validate(defaults()));
  auto expect_bad = [](disagg_policy_config cfg, const char* field) {
    auto err = validate(cfg);
    ASSERT_TRUE(err) << field << " should be rejected";
    EXPECT_EQ(classify(err), errc::invalid_request);
    EXPECT_THAT(client_message(err), HasSubstr(field));
  };
  auto cfg = defaults();
  cfg.min_remote_tokens = -2;
  expect_bad(cfg, "min-remote-tokens");
  cfg = defaults();
  cfg.overhead_ms = -0.5;
  expect_bad(cfg, "overhead-ms");
  cfg = defaults();
  cfg.overhead_ms = std::numeric_limits<double>::infinity();
  expect_bad(cfg, "overhead-ms");
  cfg = defaults();
  cfg.bandwidth_gbps = 0.0;
  expect_bad(cfg, "bandwidth-gbps");
  cfg = defaults();
  cfg.prefill_tokens_per_s = -1.0;
  expect_bad(cfg, "prefill-tokens-per-s");
  cfg = defaults();
  cfg.smoothing = 0.0;
  expect_bad(cfg, "smoothing");
  cfg = defaults();
  cfg.smoothing = 1.5;
  expect_bad(cfg, "smoothing");
  cfg = defaults();
  cfg.smoothing = std::nan("");
  expect_bad(cfg, "smoothing");
  cfg = defaults();
  cfg.min_remote_tokens = 0;
  cfg.overhead_ms = 0.0;
  cfg.smoothing = 1.0;
  EXPECT_FALSE(validate(cfg)) << "boundary values are valid";
}

TEST(disagg_policy_config, bind_registers_every_knob_under_the_prefix) {
  disagg_policy_config cfg;
  option_set opts{"test"};
  cfg.bind(opts, "disagg");
  const char* argv[] = {"prog",
                        "--disagg.min-remote-tokens", "128",
                        "--disagg.overhead-ms", "1.5",
                        "--disagg.bandwidth-gbps", "12.5",
                        "--disagg.prefill-tokens-per-s", "30000",
                        "--disagg.smoothing", "0.5"};
  auto err = opts.parse(11, argv, {});
  ASSERT_FALSE(err) << describe(err);
  EXPECT_EQ(cfg.min_remote_tokens, 128);
  EXPECT_DOUBLE_EQ(cfg.overhead_ms, 1.5);
  EXPECT_DOUBLE_EQ(cfg.bandwidth_gbps, 12.5);
  EXPECT_DOUBLE_EQ(cfg.prefill_tokens_per_s, 30000.0);
  EXPECT_DOUBLE_EQ(cfg.smoothing, 0.5);
  EXPECT_FALSE(validate(cfg));
}

TEST(disagg_policy_config, help_shows_the_defaults) {
  disagg_policy_config cfg;
  option_set opts{"test"};
  cfg.bind(opts, "worker.disagg");
  auto help = opts.help();
  EXPECT_THAT(help, HasSubstr("worker.disagg.min-remote-tokens"));
  EXPECT_THAT(help, HasSubstr("worker.disagg.prefill-tokens-per-s"));
  EXPECT_THAT(help, HasSubstr("8000"));
}

} // namespace
} // namespace dynamo::disagg
