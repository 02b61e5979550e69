// The fp32 forward pass of a Llama-family model over a paged KV cache: embeddings, RMSNorm,
// RoPE (with Llama 3 scaling), grouped-query attention, SwiGLU, tied embeddings, Qwen2's QKV
// bias. Runs a batch of items (prefill chunks and decode tokens) in one call.
#pragma once

#include "dynamo/engine/engine.hpp"
#include "dynamo/engine/types.hpp"
#include "dynamo/log.hpp"
#include "dynamo/model/checkpoint.hpp"
#include "dynamo/reference/kv_cache.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace dynamo::reference {

/// Settings of a model_runner.
struct runner_options {
  uint32_t threads = 0;        ///< Compute threads (0 = one per online CPU).
  uint32_t block_size = 16;    ///< Tokens per KV block.
  uint64_t kv_blocks = 1024;   ///< Blocks in the KV pool.
  /// Provides the KV pool's memory (called once by load()); empty = the runner allocates it.
  engine::kv_memory_provider kv_memory;
};

/// One sequence's work in a forward call.
struct forward_item {
  /// The tokens to compute now; their KV is written into the cache at positions
  /// [start, start + tokens.size()).
  std::span<const engine::token_id> tokens;
  /// Position of tokens[0]; the KV of positions [0, start) is already in the cache.
  uint32_t start = 0;
  /// Block table: block_table[i] holds positions [i * block_size, (i + 1) * block_size); it
  /// covers at least start + tokens.size() positions.
  std::span<const uint32_t> block_table;
  /// Whether the caller wants the logits after the last token.
  bool want_logits = true;
};

/// Runs the model. Owns the weights (fp32), the KV pool and a compute thread pool. Not
/// thread-safe: one caller (the engine) at a time.
class model_runner {
public:
  /// Loads the weights of `ckpt` (converted to fp32; F32 tensors may be used in place from the
  /// mapping) and allocates the KV pool, or takes its memory from opts.kv_memory. Errors:
  /// invalid_request naming a missing tensor or a shape that does not match config.json;
  /// overloaded if the KV pool cannot be allocated; the provider's error as it returned it;
  /// internal if the provider returns a null or not 64-byte aligned pointer.
  static caf::expected<std::unique_ptr<model_runner>>
  load(const model::checkpoint& ckpt, const runner_options& opts, logger_ptr log);

  virtual ~model_runner();

  /// Computes every item and writes their KV. `logits` is resized to items.size() * vocab; row
  /// i holds item i's logits after its last token when items[i].want_logits (other rows are
  /// unspecified). Preconditions (on_internal_error otherwise): non-empty tokens, token ids
  /// < vocab, block tables long enough, block ids < kv_blocks, positions < max positions.
  virtual void forward(std::span<const forward_item> items, std::vector<float>& logits) = 0;

  /// The architecture being run. max_position_embeddings is capped at the sliding window
  /// (attention is full, so positions beyond the window are not supported).
  virtual const model::model_config& config() const noexcept = 0;

  /// The KV pool (the data plane reads and writes its blocks).
  virtual kv_cache& kv() noexcept = 0;

  /// Number of compute threads in use.
  virtual uint32_t threads() const noexcept = 0;
};

} // namespace dynamo::reference
