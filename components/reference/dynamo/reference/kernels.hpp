// fp32 compute kernels of the reference engine: the weight matmul (HF [out, in] layout),
// RMSNorm, SwiGLU, softmax and argmax. Vectorized with GCC vector extensions and cloned for
// AVX-512 / AVX2+FMA / baseline x86-64 (picked at load time; no -march flag needed).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dynamo::reference {

class thread_pool;

/// A borrowed row-major fp32 matrix: `rows` x `cols`, row r at data + r * ld.
struct matrix_view {
  const float* data = nullptr;
  size_t rows = 0;
  size_t cols = 0;
  size_t ld = 0;  ///< Floats between consecutive rows (>= cols).
};

/// A mutable row-major fp32 matrix, laid out like matrix_view.
struct matrix_span {
  float* data = nullptr;
  size_t rows = 0;
  size_t cols = 0;
  size_t ld = 0;  ///< Floats between consecutive rows (>= cols).
};

/// Y[m, n] = sum_k X[m, k] * W[n, k] (+ bias[n]) for the output columns n in [n_begin, n_end),
/// on the calling thread; with `accumulate` the result is added to Y instead (Y += ...). W is
/// dense [y.cols, x.cols] (the HF [out, in] layout); `bias` is y.cols floats or nullptr.
/// Requires x.rows == y.rows; any thread.
void matmul_columns(matrix_view x, const float* w, const float* bias, matrix_span y,
                    size_t n_begin, size_t n_end, bool accumulate = false) noexcept;

/// Y = X * W^T (+ bias), or Y += ... with `accumulate`, as matmul_columns over all columns,
/// split across `pool` by slices of W rows (each row of W is read from memory once per call).
/// Owner thread of `pool`.
void matmul(thread_pool& pool, matrix_view x, const float* w, const float* bias, matrix_span y,
            bool accumulate = false);

/// y[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i] for i < n (HF LlamaRMSNorm in fp32). `y` may
/// alias `x`. Any thread.
void rmsnorm(const float* x, const float* weight, float* y, size_t n, float eps) noexcept;

/// out[i] = silu(gate[i]) * up[i] for i < n (SwiGLU). `out` may alias either input. Any thread.
void silu_mul(const float* gate, const float* up, float* out, size_t n) noexcept;

/// In-place numerically stable softmax of x[0, n), n > 0. Any thread.
void softmax(float* x, size_t n) noexcept;

/// Index of the largest of x[0, n) (the first one on ties); 0 when n == 0. Any thread.
size_t argmax(const float* x, size_t n) noexcept;

/// Dot product of a[0, n) and b[0, n). Any thread.
float dot(const float* a, const float* b, size_t n) noexcept;

} // namespace dynamo::reference
