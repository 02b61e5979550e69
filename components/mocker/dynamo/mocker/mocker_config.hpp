// Settings of the mocker engine: cache geometry, scheduler limits, timing and output tokens.
#pragma once

#include "dynamo/engine/types.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <optional>

namespace dynamo::mocker {

/// Configuration of a mocker_engine. Plain value; check it with validate() before use.
struct mocker_config {
  uint32_t block_size = 16;                 ///< Tokens per KV block.
  uint64_t total_kv_blocks = 16384;         ///< Size of the paged KV pool.
  uint32_t max_num_seqs = 256;              ///< Most sequences running at once.
  uint32_t max_num_batched_tokens = 8192;   ///< Token budget of one step (decode + prefill).
  bool enable_prefix_caching = true;        ///< Reuse cached blocks by sequence hash.
  bool enable_chunked_prefill = true;       ///< Split long prefills across steps.
  double speedup_ratio = 1.0;               ///< Simulated durations are divided by this (> 0).
  uint32_t max_model_len = 8192;            ///< Most prompt + generated tokens per sequence.
  uint32_t max_waiting = 4096;              ///< Queue bound; admit() beyond it is overloaded.
  /// Fraction of the pool kept free when admitting next to running sequences (vLLM's
  /// watermark): avoids admitting a sequence only to preempt it on the next decode.
  double admission_watermark = 0.01;
  std::optional<engine::token_id> eos_token_id;  ///< Acts as a stop token unless ignore_eos.
  engine::token_id token_min = 32;          ///< Smallest generated token (printable ASCII).
  engine::token_id token_max = 126;         ///< Largest generated token.
  uint64_t seed = 0;                        ///< Perturbs every generated token stream.
};

/// Checks every field; invalid_request naming the first bad field, or an empty error. Any thread.
caf::error validate(const mocker_config& cfg);

} // namespace dynamo::mocker
