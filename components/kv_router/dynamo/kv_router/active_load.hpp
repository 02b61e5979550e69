// The router's own view of each worker's load (the "slot manager"): which requests it routed
// where, how many prompt tokens of them still await prefill, and how many KV blocks they hold.
//
// decode_blocks model. Per worker, decode_blocks = (distinct prompt block hashes of its active
// requests; a block shared by several of them counts once, reference counted) + the sum over its
// active requests of the blocks each request's non-shared tail needs:
//   tail_blocks = ceil((prompt_tokens mod block_size + expected_output_tokens) / block_size),
// i.e. the trailing partial prompt block plus the generated tokens, which no other request can
// share. potential_decode_blocks answers the same sum as if one more request were added.
//
// prefill_tokens of a worker is the sum of prefill_tokens (uncached prompt tokens at routing
// time) of its requests that have not produced their first token yet.
//
// Cost. add/prefill_done/finish are O(blocks of that request × workers holding each block among
// active requests) expected, and expire/remove_worker are that per dropped request; the load of
// a worker is O(1). Not thread-safe: one owner (the router actor) calls everything.
#pragma once

#include "dynamo/engine/mix.hpp"
#include "dynamo/kv_router/prefix_index.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dynamo::kv_router {

/// The clock of routing times and expiry cutoffs.
using clock = std::chrono::steady_clock;

/// One worker's load as the router tracks it.
struct load_snapshot {
  uint32_t active_requests = 0;  ///< Requests routed to the worker and not finished.
  uint64_t prefill_tokens = 0;   ///< Uncached prompt tokens of requests before their first token.
  uint64_t decode_blocks = 0;    ///< KV blocks the worker's active requests hold (deduplicated).
  bool operator==(const load_snapshot&) const = default;
};

/// One routed request as the load tracker (and replica sync) sees it.
struct tracked_request {
  uint64_t id = 0;                      ///< Request id.
  worker_key worker = 0;                ///< The worker it was routed to.
  std::vector<uint64_t> prompt_hashes;  ///< Sequence hashes of the prompt's full blocks.
  uint32_t prompt_tokens = 0;           ///< Prompt length in tokens.
  uint32_t prefill_tokens = 0;          ///< Uncached tokens at routing time.
  uint32_t expected_output_tokens = 0;  ///< Tokens the request is expected to generate.
  bool operator==(const tracked_request&) const = default;
};

/// Prompt block hash -> the workers whose active requests hold it, with reference counts. An
/// open-addressing table (linear probing, backward-shift deletion, load <= 1/2, shrinks below
/// 1/8) whose slots hold the first holder inline, so that a block held by one worker costs one
/// probe and no allocation; further holders live in a pooled overflow list. Not thread-safe.
class holder_table {
public:
  /// One worker holding a block, with the number of its active requests that hold it.
  struct holder {
    worker_key worker = 0;
    uint32_t refs = 0;
  };

  /// Takes a reference for `worker` on `hash`; true if the worker did not hold it before.
  bool hold(uint64_t hash, worker_key worker);

  /// Drops a reference of `worker` on `hash`; true if the worker no longer holds it. A release
  /// without a matching hold is a broken invariant (on_internal_error).
  bool release(uint64_t hash, worker_key worker);

  /// Calls fn(worker) for every worker holding `hash`.
  template <class Fn>
  void for_each(uint64_t hash, Fn&& fn) const {
    const size_t i = find(hash);
    if (i == npos)
      return;
    fn(slots_[i].worker);
    if (slots_[i].more != 0)
      for (const auto& h : overflow_[slots_[i].more - 1])
        fn(h.worker);
  }

  /// Hints the CPU to load the slot where `hash` would start its probe: callers walking many
  /// hashes prefetch a few ahead, so that the cache misses overlap.
  void prefetch(uint64_t hash) const noexcept {
    if (!slots_.empty())
      __builtin_prefetch(&slots_[home(hash)]);
  }

  /// Distinct hashes held.
  size_t size() const noexcept { return used_; }

  /// Slots allocated (capacity), for memory accounting.
  size_t capacity() const noexcept { return slots_.size(); }

private:
  struct slot {
    uint64_t hash = 0;
    worker_key worker = 0;  ///< The inline holder.
    uint32_t refs = 0;      ///< The inline holder's references; 0 marks an empty slot.
    uint32_t more = 0;      ///< 1 + index into overflow_ of further holders; 0 for none.
  };
  static constexpr size_t npos = static_cast<size_t>(-1);

  size_t home(uint64_t hash) const noexcept {
    return static_cast<size_t>(engine::mix64(hash)) & (slots_.size() - 1);
  }
  size_t find(uint64_t hash) const noexcept {
    if (used_ == 0)
      return npos;
    for (size_t i = home(hash);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].refs == 0)
        return npos;
      if (slots_[i].hash == hash)
        return i;
    }
  }
  /// Moves every slot into a table of `capacity` (a power of two > used_) slots.
  void rehash(size_t capacity);
  /// Empties slot `i`, shifting later slots of its probe run back.
  void erase_at(size_t i);
  /// A fresh overflow list; returns its index + 1.
  uint32_t new_overflow();
  /// Returns overflow list `more` - 1 to the pool.
  void free_overflow(uint32_t more);

  std::vector<slot> slots_;
  size_t used_ = 0;
  std::vector<std::vector<holder>> overflow_;
  std::vector<uint32_t> free_overflow_;
};

/// Load per worker from the requests routed to it (model at the top of this file). Not
/// thread-safe: one owner calls everything.
class active_load {
public:
  /// Tracks load in blocks of `block_size` tokens (>= 1; 0 is a broken precondition:
  /// on_internal_error).
  explicit active_load(uint32_t block_size);

  /// Starts tracking `r` (added at `now`); false (and no change) if the id is already tracked.
  bool add(tracked_request r, clock::time_point now);

  /// The request produced its first token: its prefill tokens stop counting. False if unknown
  /// or already done.
  bool prefill_done(uint64_t id);

  /// The request ended (finished, failed, cancelled): all its load goes. False if unknown.
  bool finish(uint64_t id);

  /// Current load of `worker` (zeros if it has no tracked request).
  load_snapshot load(worker_key worker) const;

  /// decode_blocks of `worker` if a request with these (distinct) prompt blocks were added:
  /// prompt blocks it already holds for another active request count once.
  uint64_t potential_decode_blocks(worker_key worker, std::span<const uint64_t> prompt_hashes,
                                   uint32_t prompt_tokens, uint32_t expected_output_tokens) const;

  /// Blocks the non-shared tail of a request needs: ceil((prompt_tokens mod block_size +
  /// expected_output_tokens) / block_size).
  uint64_t tail_blocks(uint32_t prompt_tokens, uint32_t expected_output_tokens) const noexcept;

  /// Calls fn(worker) once for every (hash of `prompt_hashes`, worker whose active requests hold
  /// that hash) pair: counting the calls per worker gives the prompt blocks it already holds,
  /// for all workers in one pass over the prompt. `fn` must not modify this tracker.
  template <class Fn>
  void for_each_holder(std::span<const uint64_t> prompt_hashes, Fn&& fn) const {
    for (size_t i = 0; i < prompt_hashes.size(); ++i) {
      if (i + prefetch_distance < prompt_hashes.size())
        blocks_.prefetch(prompt_hashes[i + prefetch_distance]);
      blocks_.for_each(prompt_hashes[i], fn);
    }
  }

  /// Drops `worker` and its requests; returns their ids (ascending).
  std::vector<uint64_t> remove_worker(worker_key worker);

  /// Drops requests added before `cutoff` (a lost finish must not leak load forever); returns
  /// their ids, oldest first.
  std::vector<uint64_t> expire(clock::time_point cutoff);

  /// The worker a tracked request went to (nullopt if the id is not tracked).
  std::optional<worker_key> worker_of(uint64_t id) const;

  /// Tracked requests.
  size_t size() const noexcept { return requests_.size(); }

  /// Workers with at least one tracked request.
  size_t worker_count() const noexcept { return workers_.size(); }

  /// Tokens per block.
  uint32_t block_size() const noexcept { return block_size_; }

private:
  /// How many hashes ahead block walks prefetch.
  static constexpr size_t prefetch_distance = 8;

  using by_time = std::multimap<clock::time_point, uint64_t>;
  struct request_state {
    worker_key worker = 0;
    std::vector<uint64_t> prompt_hashes;
    uint32_t prefill_tokens = 0;
    uint64_t tail_blocks = 0;
    bool prefilling = true;
    by_time::iterator added;
  };
  struct worker_state {
    std::unordered_set<uint64_t> requests;
    uint64_t prefill_tokens = 0;
    uint64_t distinct_blocks = 0;
    uint64_t tail_blocks = 0;
  };

  /// Takes one reference on each prompt block for `worker`.
  void hold_blocks(worker_key worker, std::span<const uint64_t> hashes, worker_state& w);
  /// Drops one reference on each prompt block for `worker`.
  void release_blocks(worker_key worker, std::span<const uint64_t> hashes, worker_state& w);
  /// Removes request `i` and all its load; the worker entry goes when it has no request left.
  void drop(std::unordered_map<uint64_t, request_state>::iterator i);

  uint32_t block_size_;
  std::unordered_map<uint64_t, request_state> requests_;
  std::unordered_map<worker_key, worker_state> workers_;
  /// Prompt block hash -> workers whose active requests hold it.
  holder_table blocks_;
  by_time by_time_;
};

} // namespace dynamo::kv_router
