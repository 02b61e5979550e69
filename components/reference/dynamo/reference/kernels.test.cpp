#include "dynamo/reference/kernels.hpp"

#include "dynamo/reference/rope.hpp"
#include "dynamo/reference/thread_pool.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace dynamo::reference {
namespace {

std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist{-scale, scale};
  std::vector<float> v(n);
  for (auto& x : v)
    x = dist(rng);
  return v;
}

// y[m][n] = base + sum_k x[m][k] * w[n][k] + bias[n], in double.
std::vector<double> naive_matmul(const std::vector<float>& x, size_t ldx,
                                 const std::vector<float>& w, const float* bias, size_t m,
                                 size_t n, size_t k) {
  std::vector<double> y(m * n);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = bias != nullptr ? bias[j] : 0.0;
      for (size_t kk = 0; kk < k; ++kk)
        s += double{x[i * ldx + kk]} * w[j * k + kk];
      y[i * n + j] = s;
    }
  return y;
}

struct matmul_case {
  size_t m, n, k;
};

class matmul_shapes : public ::testing::TestWithParam<matmul_case> {};

TEST_P(matmul_shapes, matches_naive_loops) {
  auto [m, n, k] = GetParam();
  std::mt19937 rng{static_cast<uint32_t>(m * 1000 + n * 10 + k)};
  size_t ldx = k + 3;  // Strided rows.
  size_t ldy = n + 5;
  auto x = random_vector(m * ldx, rng);
  auto w = random_vector(n * k, rng);
  auto bias = random_vector(n, rng);
  thread_pool pool{2};
  for (bool with_bias : {false, true}) {
    for (bool accumulate : {false, true}) {
      std::vector<float> y(m * ldy, 0.5f);
      matmul(pool, {x.data(), m, k, ldx}, w.data(), with_bias ? bias.data() : nullptr,
             {y.data(), m, n, ldy}, accumulate);
      auto expected = naive_matmul(x, ldx, w, with_bias ? bias.data() : nullptr, m, n, k);
      double tol = 1e-5 * std::sqrt(static_cast<double>(k) + 1);
      for (size_t i = 0; i < m; ++i) {
        for (size_t j = 0; j < n; ++j) {
          double want = expected[i * n + j] + (accumulate ? 0.5 : 0.0);
          ASSERT_NEAR(y[i * ldy + j], want, tol)
            << "m=" << m << " n=" << n << " k=" << k << " at (" << i << ", " << j
            << ") bias=" << with_bias << " accumulate=" << accumulate;
        }
        for (size_t j = n; j < ldy; ++j)
          ASSERT_EQ(y[i * ldy + j], 0.5f) << "wrote past the row end at (" << i << ", " << j << ")";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(kernels, matmul_shapes,
                         ::testing::Values(matmul_case{1, 1, 1}, matmul_case{1, 17, 64},
                                           matmul_case{3, 5, 7}, matmul_case{4, 4, 8},
                                           matmul_case{5, 33, 300}, matmul_case{8, 16, 256},
                                           matmul_case{9, 37, 513}, matmul_case{2, 64, 0},
                                           matmul_case{32, 20, 100}, matmul_case{3, 9, 2100}));

TEST(kernels, matmul_columns_writes_only_its_slice) {
  std::mt19937 rng{7};
  size_t m = 3, n = 40, k = 24;
  auto x = random_vector(m * k, rng);
  auto w = random_vector(n * k, rng);
  std::vector<float> y(m * n, -7.0f);
  matmul_columns({x.data(), m, k, k}, w.data(), nullptr, {y.data(), m, n, n}, 10, 21);
  auto expected = naive_matmul(x, k, w, nullptr, m, n, k);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      if (j >= 10 && j < 21)
        EXPECT_NEAR(y[i * n + j], expected[i * n + j], 1e-4);
      else
        EXPECT_EQ(y[i * n + j], -7.0f);
    }
}

TEST(kernels, rmsnorm_matches_definition) {
  std::mt19937 rng{1};
  for (size_t n : {size_t{1}, size_t{7}, size_t{64}, size_t{100}}) {
    auto x = random_vector(n, rng);
    auto w = random_vector(n, rng);
    std::vector<float> y(n);
    rmsnorm(x.data(), w.data(), y.data(), n, 1e-5f);
    double ms = 0;
    for (auto v : x)
      ms += double{v} * v;
    double inv = 1.0 / std::sqrt(ms / static_cast<double>(n) + 1e-5);
    for (size_t i = 0; i < n; ++i)
      EXPECT_NEAR(y[i], w[i] * x[i] * inv, 1e-5);
    rmsnorm(x.data(), w.data(), x.data(), n, 1e-5f);  // In place.
    for (size_t i = 0; i < n; ++i)
      EXPECT_FLOAT_EQ(x[i], y[i]);
  }
}

TEST(kernels, silu_mul_softmax_argmax) {
  std::vector<float> gate{-2.0f, 0.0f, 1.0f, 3.0f};
  std::vector<float> up{1.0f, 2.0f, -1.0f, 0.5f};
  std::vector<float> out(4);
  silu_mul(gate.data(), up.data(), out.data(), 4);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(out[i], gate[i] / (1 + std::exp(-gate[i])) * up[i], 1e-6);

  std::vector<float> logits{1000.0f, 1001.0f, 999.0f};
  softmax(logits.data(), logits.size());
  double denom = std::exp(-1.0) + 1 + std::exp(-2.0);
  EXPECT_NEAR(logits[0], std::exp(-1.0) / denom, 1e-6);
  EXPECT_NEAR(logits[1], 1 / denom, 1e-6);
  EXPECT_NEAR(logits[2], std::exp(-2.0) / denom, 1e-6);

  std::vector<float> v{0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(argmax(v.data(), v.size()), 1u);
  EXPECT_EQ(argmax(v.data(), 0), 0u);
  std::mt19937 rng{3};
  auto a = random_vector(77, rng);
  auto b = random_vector(77, rng);
  double d = 0;
  for (size_t i = 0; i < 77; ++i)
    d += double{a[i]} * b[i];
  EXPECT_NEAR(dot(a.data(), b.data(), 77), d, 1e-5);
}

TEST(rope, inv_freq_without_scaling) {
  auto f = rope_inv_freq(8, 10000.0, model::rope_scaling{});
  ASSERT_EQ(f.size(), 4u);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(f[i], static_cast<float>(std::pow(10000.0, -2.0 * i / 8)));
  model::rope_scaling linear;
  linear.type = "linear";
  linear.factor = 4.0;
  auto g = rope_inv_freq(8, 10000.0, linear);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(g[i], f[i] / 4.0f);
}

TEST(rope, llama3_scaling_keeps_high_divides_low_and_blends_medium) {
  model::rope_scaling s;
  s.type = "llama3";
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position_embeddings = 8192;
  uint32_t d = 128;
  auto base = rope_inv_freq(d, 500000.0, model::rope_scaling{});
  auto scaled = rope_inv_freq(d, 500000.0, s);
  int high = 0, low = 0, medium = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    double wavelen = 2 * std::numbers::pi / base[i];
    if (wavelen < 8192.0 / 4.0) {
      EXPECT_FLOAT_EQ(scaled[i], base[i]) << i;
      ++high;
    } else if (wavelen > 8192.0) {
      EXPECT_FLOAT_EQ(scaled[i], base[i] / 8.0f) << i;
      ++low;
    } else {
      double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      double want = (1 - smooth) * base[i] / 8.0 + smooth * base[i];
      EXPECT_NEAR(scaled[i], want, 1e-6 * base[i]) << i;
      EXPECT_LT(scaled[i], base[i]);
      EXPECT_GT(scaled[i], base[i] / 8.0f);
      ++medium;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
}

TEST(rope, rotate_half_pairs_i_with_i_plus_half) {
  // Each pair (x[i], x[i + half]) is rotated like the complex number x[i] + j x[i + half].
  size_t half = 3;
  std::vector<float> inv{1.0f, 0.1f, 0.01f};
  std::vector<float> cs(half), sn(half);
  rope_angles(inv.data(), half, 5, cs.data(), sn.data());
  std::vector<float> x{1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6};
  auto orig = x;
  rope_rotate(x.data(), 2, half, cs.data(), sn.data());
  for (size_t h = 0; h < 2; ++h)
    for (size_t i = 0; i < half; ++i) {
      double angle = 5.0 * inv[i];
      double a = orig[h * 6 + i];
      double b = orig[h * 6 + i + half];
      EXPECT_NEAR(x[h * 6 + i], a * std::cos(angle) - b * std::sin(angle), 1e-5);
      EXPECT_NEAR(x[h * 6 + i + half], b * std::cos(angle) + a * std::sin(angle), 1e-5);
    }
}

} // namespace
} // namespace dynamo::reference
