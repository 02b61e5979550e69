// Approximate mode (no KV events): the router records its own routing decisions into the prefix
// index and forgets them after a TTL, assuming the worker's cache evicted them by then.
#pragma once

#include "dynamo/kv_router/prefix_index.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>

namespace dynamo::kv_router {

/// Routing decisions recorded into a prefix_index with a TTL and a size bound. Not thread-safe:
/// one owner (the router actor) calls everything; the index itself may be queried concurrently.
class decision_log {
public:
  using clock = std::chrono::steady_clock;  ///< Deadlines are steady-clock time points.

  /// Records into `index` (which must outlive this). Entries expire `ttl` after their last
  /// record; above `max_blocks` entries the oldest are pruned down to prune_ratio × max_blocks.
  /// A ttl <= 0 is treated as 1 ms, max_blocks 0 as 1; prune_ratio is clamped to [0, 1] (NaN: 0).
  decision_log(prefix_index& index, std::chrono::milliseconds ttl, uint64_t max_blocks = 1 << 20,
               double prune_ratio = 0.8);

  /// `worker` was sent a request whose prompt has these sequence hashes (refreshes their TTL).
  /// A `now` earlier than one seen before counts as that latest time. Blocks the index refuses
  /// (its own max_blocks) stay in the log and are offered again on their next record.
  void record(worker_key worker, std::span<const uint64_t> sequence_hashes, clock::time_point now);

  /// Removes the entries that expired at `now` (and prunes above max_blocks). Returns how many.
  size_t expire(clock::time_point now);

  /// Forgets `worker` (in the log and the index).
  void remove_worker(worker_key worker);

  /// (worker, block) entries live.
  uint64_t size() const;

private:
  struct entry_key {
    worker_key worker = 0;
    uint64_t hash = 0;
    bool operator==(const entry_key&) const = default;
  };
  struct entry_key_hash {
    size_t operator()(const entry_key& k) const noexcept;
  };
  struct fifo_item {
    clock::time_point deadline;
    entry_key key;
  };

  /// Drops the FIFO head while it is stale (refreshed or forgotten entries).
  void skip_stale();
  /// Prunes the oldest entries while above max_blocks_, down to the prune target.
  size_t prune();
  /// Rebuilds the FIFO without stale items once they outnumber the live ones.
  void compact_if_sparse();

  prefix_index& index_;
  std::chrono::milliseconds ttl_;
  uint64_t max_blocks_;
  uint64_t prune_target_;
  /// Live entries -> their current deadline. Each live entry has exactly one FIFO item carrying
  /// that deadline (a record at the same instant pushes none); older items are stale.
  std::unordered_map<entry_key, clock::time_point, entry_key_hash> live_;
  /// Every record in order; stale items are skipped lazily and compacted away when they
  /// outnumber live ones. Deadlines are non-decreasing: `now` is clamped to the latest seen.
  std::deque<fifo_item> fifo_;
  clock::time_point latest_now_{};
};

} // namespace dynamo::kv_router
