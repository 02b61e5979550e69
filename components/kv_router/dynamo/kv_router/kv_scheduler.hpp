// The KV-aware routing decision end to end, without actors: hash the prompt, ask the prefix index
// how far each worker matches it, cost every non-busy candidate with its tracked load, pick one
// (selector.hpp) and start tracking the request's load on it (active_load.hpp).
//
// Per candidate w: prefill_tokens = load(w).prefill_tokens + max(0, prompt_tokens −
// overlap_blocks(w) × block_size); decode_blocks = load(w).decode_blocks + prompt blocks w does
// not already hold for an active request + the request's tail blocks, with expected output =
// min(max_tokens, max_expected_output). Busy workers (is_busy with the configured thresholds)
// are skipped unless every candidate is busy; then all of them compete and the decision says
// busy_fallback (the caller decides whether to queue or shed before forcing it).
//
// Not thread-safe: one owner (the router actor) calls everything. The prefix index may be updated
// concurrently by other threads (it is thread-safe).
#pragma once

#include "dynamo/engine/types.hpp"
#include "dynamo/kv_router/active_load.hpp"
#include "dynamo/kv_router/prefix_index.hpp"
#include "dynamo/kv_router/selector.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <span>
#include <optional>
#include <vector>

namespace dynamo::kv_router {

/// Configuration of a kv_scheduler.
struct kv_scheduler_config {
  uint32_t block_size = 16;             ///< Tokens per KV block; must equal the workers'.
  selector_config selector;             ///< Cost weight and temperature defaults.
  busy_thresholds busy;                 ///< Load valve; all disabled by default.
  uint32_t max_expected_output = 1024;  ///< Cap on max_tokens used as expected output.
};

/// Checks block_size >= 1 and the selector and busy settings. Any thread. Errors:
/// invalid_request naming the field.
caf::error validate(const kv_scheduler_config& cfg);

/// What schedule() decided.
struct route_decision {
  worker_key worker = 0;        ///< The chosen worker.
  uint32_t overlap_blocks = 0;  ///< Leading prompt blocks the chosen worker holds.
  uint32_t prompt_blocks = 0;   ///< Full blocks of the prompt.
  double cost = 0.0;            ///< The chosen candidate's cost.
  bool busy_fallback = false;   ///< Every candidate was busy (the caller forced routing).
  tracked_request tracked;      ///< What was added to the load (replica sync sends it).
};

/// The KV-aware scheduler (rules at the top of this file).
class kv_scheduler {
public:
  /// Queries `index` (which must outlive this) for overlaps; `seed` drives softmax sampling.
  /// Precondition: validate(cfg) is empty (on_internal_error otherwise).
  kv_scheduler(kv_scheduler_config cfg, const prefix_index& index, uint64_t seed);

  /// A worker joined (or changed capacity: its load is kept).
  void add_worker(worker_key worker, uint64_t total_kv_blocks);

  /// A worker left: forgets it and its load; returns the ids of requests tracked on it.
  std::vector<uint64_t> remove_worker(worker_key worker);

  /// True if `worker` was added and not removed.
  bool has_worker(worker_key worker) const;

  /// Known workers, sorted.
  std::vector<worker_key> workers() const;

  /// True when there is no worker, or every worker not in `exclude` is busy (the load valve).
  bool all_busy(std::span<const worker_key> exclude = {}) const;

  /// Chooses a worker for request `id` with prompt `tokens`, never one in `exclude`, among the
  /// non-busy workers (all of them when every one is busy: then busy_fallback is set), and
  /// starts tracking its load. Errors: unavailable (no candidate), invalid_request (id already
  /// tracked, bad override: negative/NaN/infinite, prompt longer than 2^32 − 1 tokens).
  caf::expected<route_decision> schedule(uint64_t id, std::span<const engine::token_id> tokens,
                                         uint32_t max_tokens, const routing_overrides& overrides,
                                         std::span<const worker_key> exclude,
                                         clock::time_point now);

  /// Same with precomputed prompt sequence hashes (engine::hash_blocks(tokens, bs).sequence).
  /// Errors: as schedule, plus invalid_request when hashes.size() != prompt_tokens /
  /// block_size.
  caf::expected<route_decision> schedule_hashed(uint64_t id, std::span<const uint64_t> hashes,
                                                uint32_t prompt_tokens, uint32_t max_tokens,
                                                const routing_overrides& overrides,
                                                std::span<const worker_key> exclude,
                                                clock::time_point now);

  /// Same with the index's answer for `hashes` already at hand (index.find_matches(hashes)):
  /// the selection and tracking stage alone. Errors: as schedule_hashed.
  caf::expected<route_decision> schedule_matched(uint64_t id, std::span<const uint64_t> hashes,
                                                 const match_result& matches,
                                                 uint32_t prompt_tokens, uint32_t max_tokens,
                                                 const routing_overrides& overrides,
                                                 std::span<const worker_key> exclude,
                                                 clock::time_point now);

  /// The request produced its first token. See active_load::prefill_done.
  bool prefill_done(uint64_t id);

  /// The request ended. See active_load::finish.
  bool finish(uint64_t id);

  /// A replica's routing decision (replica sync): track it too (ignored if the worker is unknown
  /// or the id is tracked). Returns whether it was applied.
  bool track_remote(tracked_request r, clock::time_point now);

  /// Drops requests added before `cutoff`. See active_load::expire.
  std::vector<uint64_t> expire(clock::time_point cutoff);

  /// Tracked load of `worker` (zeros if unknown or idle).
  load_snapshot load(worker_key worker) const;

  /// KV capacity `worker` registered with (0 if unknown).
  uint64_t total_kv_blocks(worker_key worker) const;

  /// Tracked requests over all workers.
  size_t tracked_requests() const noexcept { return load_.size(); }

  /// The worker a tracked request went to.
  std::optional<worker_key> worker_of(uint64_t id) const { return load_.worker_of(id); }

  /// The configuration (selector defaults as last set).
  const kv_scheduler_config& config() const noexcept { return cfg_; }

  /// Replaces the selector defaults (overlap weight, temperature) at runtime. Errors:
  /// invalid_request (and nothing changes) if validate(cfg) fails.
  caf::error set_selector(selector_config cfg);

private:
  /// Whether `worker` (with capacity `total`) is busy now.
  bool busy(worker_key worker, uint64_t total) const;

  kv_scheduler_config cfg_;
  const prefix_index& index_;
  worker_selector selector_;
  active_load load_;
  struct worker_entry {
    worker_key worker = 0;
    uint64_t total_kv_blocks = 0;
  };
  /// The entry of `worker` or, if unknown, where it would go.
  std::vector<worker_entry>::const_iterator lower_bound(worker_key worker) const;

  std::vector<worker_entry> workers_;  ///< Sorted by worker.
  std::vector<candidate> candidates_;  ///< Scratch, reused between decisions.
  std::vector<candidate> busy_;        ///< Scratch: busy candidates.
  std::vector<uint32_t> held_;         ///< Scratch: prompt blocks held, parallel to workers_.
};

} // namespace dynamo::kv_router
