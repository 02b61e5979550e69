// Value types shared by every engine and by the worker that drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::engine {

/// A token id in the model's vocabulary.
using token_id = uint32_t;

/// Request id unique within one worker (the frontend's id is carried through).
using request_id = uint64_t;

/// How the next token is drawn.
struct sampling_params {
  float temperature = 1.0f;      ///< 0 = greedy.
  float top_p = 1.0f;            ///< Nucleus sampling mass in (0, 1].
  int32_t top_k = 0;             ///< 0 = disabled.
  std::optional<uint64_t> seed;  ///< Fixed seed: the same output for the same input.
};

/// When generation stops (stop strings are applied on text by the frontend).
struct stop_conditions {
  uint32_t max_tokens = 16;               ///< Hard cap on generated tokens (>= 1).
  std::vector<token_id> stop_token_ids;   ///< Any of these ends the sequence (not emitted).
  bool ignore_eos = false;                ///< Keep going past the model's EOS token.
};

/// One sequence to generate for.
struct sequence_request {
  request_id id = 0;
  std::vector<token_id> prompt;
  sampling_params sampling;
  stop_conditions stop;
  /// Prefill for a remote decoder: after its first token (max_tokens must be 1) the sequence
  /// keeps its KV blocks referenced until engine::release_held(id).
  bool hold_kv = false;
};

/// The KV blocks a hold_kv sequence kept after its prefill (engine::held_blocks).
struct held_kv {
  std::vector<uint32_t> blocks;  ///< Block table: blocks[i] holds positions [i*bs, (i+1)*bs).
  uint32_t tokens = 0;           ///< Positions holding KV: the prompt length.
};

/// Blocks reserved by engine::admit_remote for a prompt whose KV comes from elsewhere.
struct remote_kv {
  std::vector<uint32_t> blocks;  ///< Block table covering the whole prompt.
  uint32_t cached_tokens = 0;    ///< Leading positions already cached here: the sender skips
                                 ///< blocks [0, cached_tokens / block size).
};

/// Why a sequence ended.
enum class finish_reason : uint8_t {
  none = 0,   ///< Not finished.
  length,     ///< max_tokens reached.
  stop,       ///< EOS or a stop token.
  cancelled,  ///< Cancelled by the caller.
  error,      ///< The engine failed this sequence (e.g. it can never fit in the KV cache).
};

/// "length", "stop", "cancelled", "error" or "" for none.
std::string_view to_string(finish_reason x) noexcept;

/// Tokens produced for one sequence by one engine step.
struct sequence_output {
  request_id id = 0;
  std::vector<token_id> tokens;          ///< New tokens (may be empty, e.g. mid chunked prefill).
  finish_reason finish = finish_reason::none;
  uint32_t prompt_tokens = 0;            ///< Prompt length (set on every output).
  uint32_t cached_prompt_tokens = 0;     ///< Prompt tokens served from the prefix cache.
  std::string error_detail;              ///< Operator detail when finish == error.
};

/// Result of one engine iteration.
struct step_result {
  std::vector<sequence_output> outputs;
  /// How long the caller must wait before delivering `outputs`: the simulated duration of the
  /// step for a simulated engine, zero for an engine that already spent the time computing.
  std::chrono::nanoseconds delay{0};
};

/// Load and capacity facts, published as load metrics and used by routers.
struct engine_stats {
  uint32_t kv_block_size = 0;
  uint64_t total_kv_blocks = 0;
  uint64_t active_kv_blocks = 0;    ///< Blocks referenced by running sequences.
  uint64_t cached_kv_blocks = 0;    ///< Free but still holding reusable prefix content.
  uint32_t waiting_sequences = 0;
  uint32_t running_sequences = 0;
  uint64_t prefill_tokens_pending = 0;  ///< Uncached prompt tokens not yet prefilled.
  uint32_t max_sequences = 0;
  uint32_t max_batched_tokens = 0;
  uint64_t held_kv_blocks = 0;      ///< Of active: kept by hold_kv sequences until released.
  uint32_t awaiting_kv_sequences = 0;  ///< Admitted by admit_remote, awaiting complete_remote.
};

/// A KV-cache event, in the anchor system's shape (stored / removed / cleared) with a
/// per-engine monotonically increasing id starting at 1.
struct kv_event {
  enum class kind : uint8_t { stored, removed, cleared };
  uint64_t event_id = 0;
  kind type = kind::stored;
  /// stored: chained sequence hashes of the new blocks, in order; removed: hashes removed.
  std::vector<uint64_t> block_hashes;
  /// stored: the per-block local (token) hashes, parallel to block_hashes.
  std::vector<uint64_t> token_hashes;
  /// stored: sequence hash of the block before the first stored block, if any.
  std::optional<uint64_t> parent_hash;
};

} // namespace dynamo::engine
