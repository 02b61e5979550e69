#include "dynamo/reference/attention.hpp"

#include "dynamo/reference/simd.hpp"
#include "dynamo/reference/thread_pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dynamo::reference {

namespace {

// Scores computed per step of the online softmax.
constexpr uint32_t score_chunk = 32;

// One query row of one head: streams the positions [0, last] block by block.
DYNAMO_KERNEL
void attend_one(kv_cache& cache, uint32_t layer, const float* q, float* out, uint32_t kv_head,
                uint32_t last, std::span<const uint32_t> block_table, float scale) noexcept {
  const auto& g = cache.geometry();
  const size_t hd = g.head_dim;
  const size_t stride = size_t{g.kv_heads} * hd;
  float acc[max_head_dim];
  std::fill(acc, acc + hd, 0.0f);
  float scores[score_chunk];
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  for (uint32_t pos0 = 0; pos0 <= last; pos0 += g.block_size) {
    uint32_t block = block_table[pos0 / g.block_size];
    uint32_t in_block = std::min(g.block_size, last + 1 - pos0);
    const float* keys = cache.keys(layer, block) + kv_head * hd;
    const float* values = cache.values(layer, block) + kv_head * hd;
    for (uint32_t j0 = 0; j0 < in_block; j0 += score_chunk) {
      uint32_t n = std::min(score_chunk, in_block - j0);
      float chunk_max = -std::numeric_limits<float>::infinity();
      for (uint32_t j = 0; j < n; ++j) {
        scores[j] = simd::dot(q, keys + (j0 + j) * stride, hd) * scale;
        chunk_max = std::max(chunk_max, scores[j]);
      }
      float new_m = std::max(m, chunk_max);
      float rescale = std::exp(m - new_m);  // 0 on the first chunk (m = -inf).
      l *= rescale;
      for (uint32_t j = 0; j < n; ++j) {
        float p = std::exp(scores[j] - new_m);
        l += p;
        simd::scale_axpy(acc, j == 0 ? rescale : 1.0f, p, values + (j0 + j) * stride, hd);
      }
      m = new_m;
    }
  }
  float inv = 1.0f / l;
  for (size_t i = 0; i < hd; ++i)
    out[i] = acc[i] * inv;
}

} // namespace

void paged_attention_units(kv_cache& cache, const attention_args& args,
                           std::span<const attention_seq> seqs, size_t begin,
                           size_t end) noexcept {
  const uint32_t hd = cache.geometry().head_dim;
  const uint32_t group = args.heads / cache.geometry().kv_heads;
  size_t first = 0;  // First unit of seqs[s].
  for (const auto& seq : seqs) {
    size_t units = size_t{seq.count} * args.heads;
    size_t lo = std::max(begin, first);
    size_t hi = std::min(end, first + units);
    for (size_t u = lo; u < hi; ++u) {
      auto head = static_cast<uint32_t>((u - first) / seq.count);
      auto i = static_cast<uint32_t>((u - first) % seq.count);
      size_t row = seq.row + i;
      attend_one(cache, args.layer, args.q.data + row * args.q.ld + size_t{head} * hd,
                 args.out.data + row * args.out.ld + size_t{head} * hd, head / group,
                 seq.start + i, seq.block_table, args.scale);
    }
    first += units;
    if (first >= end)
      break;
  }
}

void paged_attention(thread_pool& pool, kv_cache& cache, const attention_args& args,
                     std::span<const attention_seq> seqs) {
  size_t units = 0;
  for (const auto& seq : seqs)
    units += size_t{seq.count} * args.heads;
  pool.parallel_for(units, [&cache, &args, seqs](size_t begin, size_t end) {
    paged_attention_units(cache, args, seqs, begin, end);
  });
}

} // namespace dynamo::reference
