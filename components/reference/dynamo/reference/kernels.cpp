#include "dynamo/reference/kernels.hpp"

#include "dynamo/reference/simd.hpp"
#include "dynamo/reference/thread_pool.hpp"

#include <algorithm>
#include <cmath>

namespace dynamo::reference {

namespace {

using simd::lanes;
using simd::load;
using simd::v8;

// Register tile: up to tile_m rows of X times up to tile_n rows of W.
constexpr size_t tile_m = 4;
constexpr size_t tile_n = 4;
// Cache blocking: a panel of panel_n rows of W times block_k columns (16 KiB) stays in L1/L2
// while every row of X passes over it, so W is read from memory once per call.
constexpr size_t panel_n = 16;
constexpr size_t block_k = 1024;

// The MR x NR tile over kc columns: y (+)= x * w^T, initialised from `init` (bias or zeros)
// on the first K block.
template <size_t MR, size_t NR>
DYNAMO_INLINE void tile(const float* x, size_t ldx, const float* w, size_t ldw, float* y,
                        size_t ldy, size_t kc, const float* init, bool first,
                        bool accumulate) noexcept {
  v8 acc[MR][NR] = {};
  size_t kk = 0;
  for (; kk + lanes <= kc; kk += lanes) {
    v8 xv[MR];
    for (size_t i = 0; i < MR; ++i)
      xv[i] = load(x + i * ldx + kk);
    for (size_t j = 0; j < NR; ++j) {
      v8 wv = load(w + j * ldw + kk);
      for (size_t i = 0; i < MR; ++i)
        acc[i][j] += xv[i] * wv;
    }
  }
  float sums[MR][NR];
  for (size_t i = 0; i < MR; ++i)
    for (size_t j = 0; j < NR; ++j)
      sums[i][j] = simd::hsum(acc[i][j]);
  for (; kk < kc; ++kk)
    for (size_t i = 0; i < MR; ++i)
      for (size_t j = 0; j < NR; ++j)
        sums[i][j] += x[i * ldx + kk] * w[j * ldw + kk];
  for (size_t i = 0; i < MR; ++i)
    for (size_t j = 0; j < NR; ++j) {
      float base = first && !accumulate ? 0.0f : y[i * ldy + j];
      if (first && init != nullptr)
        base += init[j];
      y[i * ldy + j] = base + sums[i][j];
    }
}

template <size_t MR>
DYNAMO_INLINE void tile_row(size_t nr, const float* x, size_t ldx, const float* w, size_t ldw,
                            float* y, size_t ldy, size_t kc, const float* init, bool first,
                            bool accumulate) noexcept {
  switch (nr) {
    case 4: tile<MR, 4>(x, ldx, w, ldw, y, ldy, kc, init, first, accumulate); break;
    case 3: tile<MR, 3>(x, ldx, w, ldw, y, ldy, kc, init, first, accumulate); break;
    case 2: tile<MR, 2>(x, ldx, w, ldw, y, ldy, kc, init, first, accumulate); break;
    default: tile<MR, 1>(x, ldx, w, ldw, y, ldy, kc, init, first, accumulate); break;
  }
}

DYNAMO_KERNEL
void matmul_panels(matrix_view x, const float* w, const float* bias, matrix_span y,
                   size_t n_begin, size_t n_end, bool accumulate) noexcept {
  size_t k = x.cols;
  size_t k_blocks = std::max<size_t>(1, (k + block_k - 1) / block_k);
  for (size_t n0 = n_begin; n0 < n_end; n0 += panel_n) {
    size_t nb = std::min(panel_n, n_end - n0);
    for (size_t kb = 0; kb < k_blocks; ++kb) {
      size_t k0 = kb * block_k;
      size_t kc = std::min(block_k, k - k0);
      bool first = kb == 0;
      for (size_t m0 = 0; m0 < x.rows; m0 += tile_m) {
        size_t mr = std::min(tile_m, x.rows - m0);
        const float* xs = x.data + m0 * x.ld + k0;
        for (size_t j = 0; j < nb; j += tile_n) {
          size_t nr = std::min(tile_n, nb - j);
          size_t n = n0 + j;
          const float* ws = w + n * k + k0;
          float* ys = y.data + m0 * y.ld + n;
          const float* init = bias != nullptr ? bias + n : nullptr;
          switch (mr) {
            case 4: tile_row<4>(nr, xs, x.ld, ws, k, ys, y.ld, kc, init, first, accumulate); break;
            case 3: tile_row<3>(nr, xs, x.ld, ws, k, ys, y.ld, kc, init, first, accumulate); break;
            case 2: tile_row<2>(nr, xs, x.ld, ws, k, ys, y.ld, kc, init, first, accumulate); break;
            default: tile_row<1>(nr, xs, x.ld, ws, k, ys, y.ld, kc, init, first, accumulate); break;
          }
        }
      }
    }
  }
}

DYNAMO_KERNEL
float dot_impl(const float* a, const float* b, size_t n) noexcept {
  return simd::dot(a, b, n);
}

DYNAMO_KERNEL
float sum_squares(const float* x, size_t n) noexcept {
  return simd::dot(x, x, n);
}

} // namespace

void matmul_columns(matrix_view x, const float* w, const float* bias, matrix_span y,
                    size_t n_begin, size_t n_end, bool accumulate) noexcept {
  matmul_panels(x, w, bias, y, n_begin, n_end, accumulate);
}

void matmul(thread_pool& pool, matrix_view x, const float* w, const float* bias, matrix_span y,
            bool accumulate) {
  size_t n = y.cols;
  size_t panels = (n + panel_n - 1) / panel_n;
  pool.parallel_for(panels, [&x, w, bias, &y, n, accumulate](size_t begin, size_t end) {
    matmul_panels(x, w, bias, y, begin * panel_n, std::min(n, end * panel_n), accumulate);
  });
}

void rmsnorm(const float* x, const float* weight, float* y, size_t n, float eps) noexcept {
  float mean = n == 0 ? 0.0f : sum_squares(x, n) / static_cast<float>(n);
  float inv = 1.0f / std::sqrt(mean + eps);
  for (size_t i = 0; i < n; ++i)
    y[i] = weight[i] * (x[i] * inv);
}

void silu_mul(const float* gate, const float* up, float* out, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) {
    float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, size_t n) noexcept {
  if (n == 0)
    return;
  float m = *std::max_element(x, x + n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  auto inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i)
    x[i] *= inv;
}

size_t argmax(const float* x, size_t n) noexcept {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (x[i] > x[best])
      best = i;
  return best;
}

float dot(const float* a, const float* b, size_t n) noexcept {
  return dot_impl(a, b, n);
}

} // namespace dynamo::reference
