// Settings of the continuous-batching scheduler every engine shares: cache geometry, batch
// limits, queue bound and the stop token of the model.
#pragma once

#include "dynamo/engine/types.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <optional>

namespace dynamo::batching {

/// Configuration of a scheduler. Plain value; check it with validate() before use.
struct scheduler_config {
  uint32_t block_size = 16;                 ///< Tokens per KV block.
  uint64_t total_kv_blocks = 16384;         ///< Size of the paged KV pool.
  uint32_t max_num_seqs = 256;              ///< Most sequences running at once.
  uint32_t max_num_batched_tokens = 8192;   ///< Token budget of one step (decode + prefill).
  bool enable_prefix_caching = true;        ///< Reuse cached blocks by sequence hash.
  bool enable_chunked_prefill = true;       ///< Split long prefills across steps.
  uint32_t max_model_len = 8192;            ///< Most prompt + generated tokens per sequence.
  uint32_t max_waiting = 4096;              ///< Queue bound; admit() beyond it is overloaded.
  /// Fraction of the pool kept free when admitting next to running sequences (vLLM's
  /// watermark): avoids admitting a sequence only to preempt it on the next decode.
  double admission_watermark = 0.01;
  std::optional<engine::token_id> eos_token_id;  ///< Acts as a stop token unless ignore_eos.
};

/// Checks every field; invalid_request naming `owner` and the first bad field, or an empty
/// error. Any thread.
caf::error validate(const scheduler_config& cfg, std::string_view owner = "scheduler");

} // namespace dynamo::batching
