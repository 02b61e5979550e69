#include "dynamo/mocker/timing_model.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace dynamo::mocker {
namespace {

using namespace std::chrono_literals;

TEST(timing_model, prefill_polynomial_at_known_points) {
  EXPECT_EQ(prefill_ms(0), 0.0);
  EXPECT_NEAR(prefill_ms(1), 16.5166038, 1e-6);
  EXPECT_NEAR(prefill_ms(1000), 0.4209989 + 15.18344 + 16.50142, 1e-9);
  EXPECT_NEAR(prefill_ms(8192), 4.209989e-7 * 8192.0 * 8192.0 + 1.518344e-2 * 8192 + 16.50142,
              1e-9);
  EXPECT_LT(prefill_ms(100), prefill_ms(200));
}

TEST(timing_model, decode_polynomial_at_known_points) {
  EXPECT_NEAR(decode_ms(0.0), 5.74, 1e-12);
  EXPECT_NEAR(decode_ms(0.5), -25.74 * 0.25 + 54.01 * 0.5 + 5.74, 1e-12);
  EXPECT_NEAR(decode_ms(1.0), 34.01, 1e-12);
  // Out-of-range utilisation is clamped, never extrapolated.
  EXPECT_NEAR(decode_ms(-3.0), 5.74, 1e-12);
  EXPECT_NEAR(decode_ms(7.0), 34.01, 1e-12);
  EXPECT_NEAR(decode_ms(std::numeric_limits<double>::quiet_NaN()), 5.74, 1e-12);
  EXPECT_GE(decode_ms(0.0), 1.0);
}

TEST(timing_model, step_delay_sums_phases) {
  timing_model model{1.0};
  EXPECT_EQ(model.step_delay(0, 0, 0.5), 0ns);
  EXPECT_EQ(model.step_delay(0, 3, 0.0), 5740000ns);
  EXPECT_EQ(model.step_delay(1000, 0, 0.9),
            std::chrono::nanoseconds{static_cast<int64_t>(prefill_ms(1000) * 1e6 + 0.5)});
  auto mixed = model.step_delay(1000, 5, 0.25);
  auto expected_ms = prefill_ms(1000) + decode_ms(0.25);
  EXPECT_NEAR(static_cast<double>(mixed.count()), expected_ms * 1e6, 1.0);
}

TEST(timing_model, speedup_divides_every_duration) {
  timing_model slow{1.0};
  timing_model fast{10.0};
  timing_model slower{0.5};
  for (uint64_t tokens : {0u, 7u, 512u, 4096u}) {
    for (double u : {0.0, 0.3, 1.0}) {
      auto base = static_cast<double>(slow.step_delay(tokens, 1, u).count());
      EXPECT_NEAR(static_cast<double>(fast.step_delay(tokens, 1, u).count()), base / 10.0, 1.0);
      EXPECT_NEAR(static_cast<double>(slower.step_delay(tokens, 1, u).count()), base * 2.0, 1.0);
    }
  }
  EXPECT_EQ(fast.speedup_ratio(), 10.0);
}

} // namespace
} // namespace dynamo::mocker
