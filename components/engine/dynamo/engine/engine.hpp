// The engine interface: what a worker drives. An engine is single-threaded; the owning worker
// actor calls it from one thread at a time.
#pragma once

#include "dynamo/engine/types.hpp"
#include "dynamo/error.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dynamo::engine {

/// Receives KV events as the engine emits them (called synchronously from engine methods).
using kv_event_sink = std::function<void(const kv_event&)>;

/// An engine's KV pool as the data plane sees it: `layers * blocks` regions of `region_bytes`
/// each, layer-major (region (layer, block) starts at (layer * blocks + block) * region_bytes),
/// so a block list moves layer by layer. Empty (base == nullptr) for an engine without KV bytes.
struct kv_pool_view {
  std::byte* base = nullptr;  ///< Start of the pool (borrowed; lives as long as the engine).
  uint32_t layers = 0;        ///< Layers of the model.
  uint32_t blocks = 0;        ///< Blocks in the pool (the engine's block indices address them).
  uint64_t region_bytes = 0;  ///< Bytes of one (layer, block) region.

  /// Bytes of the whole pool.
  uint64_t bytes() const noexcept { return uint64_t{layers} * blocks * region_bytes; }
  /// Offset of region (layer, block) from base; no bounds check.
  uint64_t offset(uint32_t layer, uint32_t block) const noexcept {
    return (uint64_t{layer} * blocks + block) * region_bytes;
  }
  /// True when there is nothing to move.
  bool empty() const noexcept { return base == nullptr || bytes() == 0; }
};

/// Provides the memory of an engine's KV pool (e.g. memory the data plane allocated and
/// registered, so that peers write into it one-sidedly): returns `bytes` bytes, aligned to at
/// least 64, that stay valid as long as the engine; or an error. Called once, while the engine
/// is built. Empty = the engine allocates its pool itself.
using kv_memory_provider = std::function<caf::expected<std::byte*>(uint64_t bytes)>;

/// An inference engine with continuous batching. Owned by exactly one worker; not thread-safe.
class engine {
public:
  virtual ~engine();

  /// Short engine name for logs and metrics ("mocker", "reference").
  virtual std::string name() const = 0;

  /// Queues a sequence. Errors: invalid_request (empty prompt, a prompt that can never fit in
  /// the KV cache or context, duplicate id), overloaded (waiting queue full).
  virtual caf::error admit(sequence_request req) = 0;

  /// Cancels a queued or running sequence and frees its KV blocks at once. Its next output (if
  /// any was pending) is not reported. Returns false if the id is unknown.
  virtual bool cancel(request_id id) = 0;

  /// True while some sequence is waiting or running.
  virtual bool has_work() const = 0;

  /// Runs one scheduler iteration (prefill chunks and/or one decode step for the batch).
  virtual step_result step() = 0;

  /// Current load and capacity.
  virtual engine_stats stats() const = 0;

  /// Installs the receiver of KV events (replaces any previous one; empty = discard).
  virtual void set_kv_event_sink(kv_event_sink sink) = 0;

  /// The blocks this engine holds in its prefix cache right now (active and cached), as stored
  /// events in an order where every parent precedes its children, with event_id 0. Replaying
  /// them into an empty index reproduces what the engine's events so far describe. Owner's
  /// thread; never fails. Default: empty (an engine without prefix caching).
  virtual std::vector<kv_event> kv_snapshot() const;

  /// The KV pool's memory and layout, for the data plane (disaggregated serving). Block
  /// indices of held_blocks / admit_remote address it. Owner's thread. Default: empty.
  virtual kv_pool_view kv_pool() { return {}; }

  /// True if step() spends real time computing (then its owner gives it a thread of its own
  /// instead of blocking a shared scheduler thread). False by default.
  virtual bool computes() const noexcept { return false; }

  // Disaggregated serving: a prefill engine computes the prompt of a hold_kv request and keeps
  // its KV blocks; a decode engine reserves blocks with admit_remote, receives the KV into them
  // through a data plane, then continues with complete_remote. Engines that cannot do this keep
  // the defaults below (admit_remote and complete_remote fail with invalid_request).

  /// Frees the blocks a finished hold_kv sequence kept; false if `id` holds none.
  virtual bool release_held(request_id id);

  /// The blocks a finished hold_kv sequence kept, valid until release_held(id). Errors:
  /// not_found (no held sequence `id`), invalid_request (not supported by this engine).
  virtual caf::expected<held_kv> held_blocks(request_id id) const;

  /// Reserves KV blocks for the whole prompt of `req`, whose KV (and first token) is computed
  /// elsewhere; the sequence waits, never scheduled, until complete_remote(id) or cancel(id).
  /// Leading prompt blocks found in the prefix cache are reused and reported in cached_tokens.
  /// Errors: invalid_request (as admit, plus hold_kv set; or not supported by this engine),
  /// overloaded (not enough free blocks or sequence slots now).
  virtual caf::expected<remote_kv> admit_remote(sequence_request req);

  /// Declares the KV of an admit_remote sequence's prompt written: registers its full blocks
  /// for prefix caching (stored events), takes `first_token` as its first output and lets it
  /// decode. The first token is reported at the head of the next step()'s outputs. Errors:
  /// not_found (unknown id), invalid_request (not awaiting its KV, a bad token, or not supported).
  virtual caf::error complete_remote(request_id id, token_id first_token);

private:
  caf::error split_unsupported() const {
    return make_error(errc::invalid_request,
                      "disaggregated prefill/decode is not supported by this engine",
                      "engine " + name() + " has no admit_remote/complete_remote");
  }
};

inline std::vector<kv_event> engine::kv_snapshot() const {
  return {};
}

inline bool engine::release_held(request_id) {
  return false;
}

inline caf::expected<held_kv> engine::held_blocks(request_id) const {
  return split_unsupported();
}

inline caf::expected<remote_kv> engine::admit_remote(sequence_request) {
  return split_unsupported();
}

inline caf::error engine::complete_remote(request_id, token_id) {
  return split_unsupported();
}

} // namespace dynamo::engine
