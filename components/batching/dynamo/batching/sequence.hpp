// One sequence inside the batching scheduler: its tokens, block table, block hashes and progress.
#pragma once

#include "dynamo/engine/types.hpp"
#include "dynamo/batching/kv_block_manager.hpp"

#include <cstdint>
#include <vector>

namespace dynamo::batching {

/// Where a sequence is in its life.
enum class sequence_phase : uint8_t {
  waiting,     ///< Queued (new or preempted); holds no blocks.
  prefilling,  ///< Running; computing tokens [computed, prefill_target) in chunks.
  decoding,    ///< Running; computes its last token each step and samples the next one.
  finished,    ///< Done; about to be dropped (or held, for hold_kv) by the scheduler.
  held,        ///< A finished hold_kv sequence keeping its blocks until released; never runs.
  awaiting_kv, ///< Admitted remotely: holds blocks for its prompt, waits for its KV; never runs.
};

/// Scheduler-owned state of one request. Owned by the scheduler; touched from its thread only.
struct sequence {
  /// Takes the prompt out of `req`; reserves room for every token and block it may ever need.
  /// Precondition: the scheduler validated the request (non-empty prompt, max_tokens >= 1).
  sequence(engine::sequence_request&& req, uint32_t block_size, uint64_t stream_seed);

  /// Appends a generated token; hashes the block it completes, if any.
  void append_token(engine::token_id token);

  /// True if `token` ends the sequence (a stop token id, or EOS when not ignored).
  bool is_stop(engine::token_id token) const noexcept;

  /// Tokens still to prefill: all tokens while waiting, the rest of the target while
  /// prefilling, none while decoding or finished.
  uint64_t pending_prefill() const noexcept;

  engine::request_id id;                     ///< The request's id.
  uint32_t block_size;                       ///< Tokens per KV block.
  uint32_t prompt_len;                       ///< Prompt tokens (reported on every output).
  uint32_t max_tokens;                       ///< Output tokens after which it ends (length).
  uint64_t stream_seed;                      ///< Seed of its output token stream (from the engine).
  engine::sampling_params sampling;          ///< How its tokens are drawn.
  std::vector<engine::token_id> tokens;      ///< Prompt then generated tokens (reserved).
  std::vector<engine::token_id> stop_tokens; ///< End the sequence without being emitted.
  std::vector<uint64_t> local_hashes;        ///< Local hash of every full block of `tokens`.
  std::vector<uint64_t> sequence_hashes;     ///< Sequence hash of every full block.
  std::vector<block_index> blocks;           ///< Block table: blocks[i] holds block i's tokens.
  sequence_phase phase = sequence_phase::waiting;  ///< Where it is in its life.
  uint32_t generated = 0;       ///< Output tokens sampled so far (stop token included).
  uint32_t computed = 0;        ///< Leading tokens whose KV is in the cache.
  uint32_t prefill_target = 0;  ///< While prefilling: tokens to compute before sampling.
  uint32_t registered = 0;      ///< Leading blocks already registered or taken from the cache.
  uint32_t cached_prompt_tokens = 0;  ///< Prompt tokens served from the prefix cache.
  bool hold_kv = false;         ///< Keep the blocks after finishing (prefill for a remote decoder).
};

} // namespace dynamo::batching
