#include "dynamo/reference/attention.hpp"

#include "dynamo/reference/thread_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace dynamo::reference {
namespace {

// One sequence with contiguous K/V [positions][kv_heads][head_dim] and its queries.
struct sequence {
  uint32_t start = 0;
  uint32_t count = 0;
  std::vector<float> keys;
  std::vector<float> values;
  std::vector<uint32_t> table;
};

// softmax(scale q.k) v over positions [0, last] of kv head kvh, in double.
std::vector<double> contiguous_attention(const sequence& s, const float* q, uint32_t kvh,
                                         uint32_t kv_heads, uint32_t hd, uint32_t last,
                                         float scale) {
  std::vector<double> scores(last + 1);
  double m = -1e300;
  for (uint32_t p = 0; p <= last; ++p) {
    const float* k = s.keys.data() + (size_t{p} * kv_heads + kvh) * hd;
    double d = 0;
    for (uint32_t i = 0; i < hd; ++i)
      d += double{q[i]} * k[i];
    scores[p] = d * scale;
    m = std::max(m, scores[p]);
  }
  double sum = 0;
  for (auto& x : scores) {
    x = std::exp(x - m);
    sum += x;
  }
  std::vector<double> out(hd, 0.0);
  for (uint32_t p = 0; p <= last; ++p) {
    const float* v = s.values.data() + (size_t{p} * kv_heads + kvh) * hd;
    for (uint32_t i = 0; i < hd; ++i)
      out[i] += scores[p] / sum * v[i];
  }
  return out;
}

void check_paged_matches_contiguous(uint32_t block_size, uint32_t heads, uint32_t kv_heads,
                                    uint32_t hd, std::vector<std::pair<uint32_t, uint32_t>> shapes,
                                    uint32_t threads) {
  std::mt19937 rng{block_size * 100 + heads * 10 + hd};
  std::uniform_real_distribution<float> dist{-1.0f, 1.0f};
  kv_geometry g{2, kv_heads, hd, block_size, 64};
  kv_cache cache{g};
  const uint32_t layer = 1;
  // Hand out the blocks in shuffled order so that tables are not contiguous.
  std::vector<uint32_t> free_blocks(g.blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0u);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  std::vector<sequence> seqs;
  size_t rows = 0;
  for (auto [start, count] : shapes) {
    sequence s;
    s.start = start;
    s.count = count;
    uint32_t len = start + count;
    s.keys.resize(size_t{len} * kv_heads * hd);
    s.values.resize(s.keys.size());
    for (auto& x : s.keys)
      x = dist(rng) * 3.0f;
    for (auto& x : s.values)
      x = dist(rng);
    for (uint32_t b = 0; b * block_size < len; ++b) {
      s.table.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
    for (uint32_t p = 0; p < len; ++p) {
      size_t off = size_t{p % block_size} * kv_heads * hd;
      size_t src = size_t{p} * kv_heads * hd;
      std::copy_n(s.keys.data() + src, size_t{kv_heads} * hd,
                  cache.keys(layer, s.table[p / block_size]) + off);
      std::copy_n(s.values.data() + src, size_t{kv_heads} * hd,
                  cache.values(layer, s.table[p / block_size]) + off);
    }
    rows += count;
    seqs.push_back(std::move(s));
  }
  size_t cols = size_t{heads} * hd;
  std::vector<float> q(rows * cols);
  for (auto& x : q)
    x = dist(rng);
  std::vector<float> out(rows * cols, 0.0f);
  std::vector<attention_seq> aseqs;
  size_t row = 0;
  for (auto& s : seqs) {
    aseqs.push_back({row, s.count, s.start, s.table});
    row += s.count;
  }
  attention_args args;
  args.layer = layer;
  args.heads = heads;
  args.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  args.q = {q.data(), rows, cols, cols};
  args.out = {out.data(), rows, cols, cols};
  thread_pool pool{threads};
  paged_attention(pool, cache, args, aseqs);
  row = 0;
  for (auto& s : seqs) {
    for (uint32_t i = 0; i < s.count; ++i, ++row) {
      for (uint32_t h = 0; h < heads; ++h) {
        auto want = contiguous_attention(s, q.data() + row * cols + size_t{h} * hd,
                                         h / (heads / kv_heads), kv_heads, hd, s.start + i,
                                         args.scale);
        for (uint32_t d = 0; d < hd; ++d)
          ASSERT_NEAR(out[row * cols + size_t{h} * hd + d], want[d], 1e-5)
            << "row " << row << " head " << h << " dim " << d;
      }
    }
  }
}

TEST(paged_attention, prefill_matches_contiguous_attention) {
  check_paged_matches_contiguous(4, 4, 2, 16, {{0, 11}}, 2);
}

TEST(paged_attention, mixed_batch_with_gqa_and_long_blocks) {
  // Blocks longer than the score chunk, decode rows with long contexts and a chunked prefill.
  check_paged_matches_contiguous(48, 8, 2, 8, {{0, 1}, {100, 1}, {37, 20}, {5, 3}}, 3);
}

TEST(paged_attention, multi_head_attention_with_odd_head_dim) {
  check_paged_matches_contiguous(16, 3, 3, 6, {{20, 2}, {0, 17}}, 1);
}

} // namespace
} // namespace dynamo::reference
