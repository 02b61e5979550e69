// Internal: 8-lane fp32 vectors (GCC vector extensions) shared by the kernels. Lowered to one
// ymm register under AVX2/AVX-512 clones and to two xmm registers on baseline x86-64.
#pragma once

#include <cstddef>
#include <cstring>

// The helpers below take and return v8 by value; they are always inlined, so the baseline
// clone's "AVX vector return without AVX enabled" ABI note does not apply to any real call.
#pragma GCC diagnostic ignored "-Wpsabi"

/// Clones a kernel for AVX-512, AVX2+FMA and baseline x86-64; the loader picks one per CPU.
#if defined(__x86_64__) && !defined(__clang__)
#define DYNAMO_KERNEL \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DYNAMO_KERNEL
#endif

/// Forces inlining of small helpers into the cloned kernels (so they get the clone's ISA).
#define DYNAMO_INLINE inline __attribute__((always_inline))

namespace dynamo::reference::simd {

/// Eight floats.
typedef float v8 __attribute__((vector_size(32)));

/// Lanes in a v8.
constexpr size_t lanes = 8;

/// Unaligned load of p[0, 8).
DYNAMO_INLINE v8 load(const float* p) noexcept {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Unaligned store to p[0, 8).
DYNAMO_INLINE void store(float* p, v8 v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

/// All lanes set to x.
DYNAMO_INLINE v8 splat(float x) noexcept {
  return v8{x, x, x, x, x, x, x, x};
}

/// Sum of the lanes (pairwise).
DYNAMO_INLINE float hsum(v8 v) noexcept {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/// Largest lane.
DYNAMO_INLINE float hmax(v8 v) noexcept {
  float m = v[0];
  for (size_t i = 1; i < lanes; ++i)
    m = v[i] > m ? v[i] : m;
  return m;
}

/// Dot product of a[0, n) and b[0, n) with two independent accumulators.
DYNAMO_INLINE float dot(const float* a, const float* b, size_t n) noexcept {
  v8 s0{};
  v8 s1{};
  size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    s0 += load(a + i) * load(b + i);
    s1 += load(a + i + lanes) * load(b + i + lanes);
  }
  for (; i + lanes <= n; i += lanes)
    s0 += load(a + i) * load(b + i);
  float s = hsum(s0 + s1);
  for (; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

/// y[0, n) = y * scale + alpha * x.
DYNAMO_INLINE void scale_axpy(float* y, float scale, float alpha, const float* x, size_t n) noexcept {
  v8 vs = splat(scale);
  v8 va = splat(alpha);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    store(y + i, load(y + i) * vs + va * load(x + i));
  for (; i < n; ++i)
    y[i] = y[i] * scale + alpha * x[i];
}

} // namespace dynamo::reference::simd
