// Causal grouped-query attention over the paged KV cache, one query row at a time with an
// online (streaming) softmax in fp32.
#pragma once

#include "dynamo/reference/kernels.hpp"
#include "dynamo/reference/kv_cache.hpp"

#include <cstdint>
#include <span>

namespace dynamo::reference {

/// The largest head_dim the attention kernel supports.
constexpr uint32_t max_head_dim = 512;

/// One sequence's queries in an attention call.
struct attention_seq {
  size_t row = 0;        ///< First row of its queries in the q / out matrices.
  uint32_t count = 0;    ///< Number of query rows (tokens).
  uint32_t start = 0;    ///< Position of the first query; query i attends to [0, start + i].
  std::span<const uint32_t> block_table;  ///< Blocks holding positions [0, start + count).
};

/// Shape and inputs of an attention call for one layer.
struct attention_args {
  uint32_t layer = 0;
  uint32_t heads = 0;     ///< Query heads; a multiple of the cache's kv_heads.
  float scale = 1.0f;     ///< Score scale, 1 / sqrt(head_dim).
  matrix_view q;          ///< [rows, heads * head_dim] queries (RoPE applied).
  matrix_span out;        ///< [rows, heads * head_dim] results.
};

/// For every sequence, query row and head h: out = softmax(scale * q . K^T) V over the cached
/// positions [0, start + i] of kv head h / (heads / kv_heads), reading K/V through the block
/// table. The K/V of the queries' own positions must already be in the cache. Parallel over
/// (sequence, head, row) on `pool`. Owner thread of `pool`; preconditions are the caller's.
void paged_attention(thread_pool& pool, kv_cache& cache, const attention_args& args,
                     std::span<const attention_seq> seqs);

/// The same computation on the calling thread for the flattened work units [begin, end) of
/// paged_attention (ordered by sequence, then head, then row). Any thread.
void paged_attention_units(kv_cache& cache, const attention_args& args,
                           std::span<const attention_seq> seqs, size_t begin,
                           size_t end) noexcept;

} // namespace dynamo::reference
