// The paged KV pool shared by every engine: reference-counted blocks, prefix caching by sequence hash and
// an LRU pool of unreferenced blocks that keep their content until evicted.
#pragma once

#include "dynamo/engine/engine.hpp"
#include "dynamo/engine/types.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace dynamo::batching {

/// Index of a block in the pool, in [0, total_blocks).
using block_index = uint32_t;

/// Result of a prefix lookup.
struct prefix_match {
  uint32_t blocks = 0;    ///< Leading blocks whose sequence hash is cached.
  uint32_t inactive = 0;  ///< How many of those are unreferenced (would leave the LRU pool).
};

/// A block pool. Every block is in exactly one state: free (no content), active (referenced by
/// at least one sequence) or inactive (unreferenced, content still registered by hash, in LRU
/// order). Emits stored/removed kv_events with ids strictly increasing from 1. Not thread-safe:
/// owned and called by one engine.
class kv_block_manager {
public:
  /// A pool of `total_blocks` free blocks (must be in [1, 2^32 - 1)); with `prefix_caching`
  /// off nothing is ever registered, matched or reported.
  kv_block_manager(uint64_t total_blocks, bool prefix_caching);

  /// Installs the event receiver (empty = discard; no events are built then). It is called
  /// synchronously and must not call back into this manager.
  void set_event_sink(engine::kv_event_sink sink);

  /// Longest run of leading `sequence_hashes` that is cached (active or inactive).
  prefix_match match_prefix(std::span<const uint64_t> sequence_hashes) const;

  /// Takes a reference on the block cached under `sequence_hash` (moving it out of the LRU pool
  /// if it was inactive). Precondition: is_cached(sequence_hash); on_internal_error otherwise.
  block_index acquire_cached(uint64_t sequence_hash);

  /// Appends `count` fresh blocks (one reference each) to `out`: free blocks first, then the
  /// least recently used inactive ones, which are unregistered and reported in one removed
  /// event. Returns false and allocates nothing if fewer than `count` are available.
  bool allocate(uint32_t count, std::vector<block_index>& out);

  /// Registers full, referenced blocks under their sequence hashes (parallel spans) and reports
  /// them in stored events; `parent` is the sequence hash of the block before blocks[0]. A hash
  /// that is already cached elsewhere leaves its block private (unregistered, not reported).
  void register_blocks(std::span<const block_index> blocks,
                       std::span<const uint64_t> sequence_hashes,
                       std::span<const uint64_t> local_hashes, std::optional<uint64_t> parent);

  /// Drops one reference from each block, last block first, so that a sequence's deepest blocks
  /// become the least recently used. Unreferenced registered blocks join the LRU pool; others
  /// become free.
  void release(std::span<const block_index> blocks);

  /// Every registered block (active and inactive) as stored events with event_id 0, one per
  /// maximal chain run, ordered so that a block's parent, when registered too, comes first;
  /// replaying the emitted events so far into an empty index gives the same blocks, hashes and
  /// parents. Empty with prefix caching off. Owner's thread; never fails.
  std::vector<engine::kv_event> snapshot() const;

  /// True if a block is registered under `sequence_hash`.
  bool is_cached(uint64_t sequence_hash) const;

  /// References held on `block` (0 for free, inactive or out-of-range blocks).
  uint32_t ref_count(block_index block) const;

  /// Number of blocks in the pool.
  uint64_t total_blocks() const noexcept { return blocks_.size(); }

  /// Blocks referenced by at least one sequence.
  uint64_t active_blocks() const noexcept { return active_count_; }

  /// Unreferenced blocks that still hold registered content.
  uint64_t inactive_blocks() const noexcept { return inactive_count_; }

  /// Blocks with no content.
  uint64_t free_blocks() const noexcept { return free_.size(); }

  /// Blocks that allocate() can hand out now (free + inactive).
  uint64_t available_blocks() const noexcept { return free_.size() + inactive_count_; }

  /// Whether prefix caching is on.
  bool prefix_caching() const noexcept { return prefix_caching_; }

  /// Id the next emitted event will carry.
  uint64_t next_event_id() const noexcept { return next_event_id_; }

private:
  static constexpr block_index npos = std::numeric_limits<block_index>::max();

  struct block {
    uint64_t sequence_hash = 0;
    uint64_t local_hash = 0;   // registered blocks: for snapshots
    uint64_t parent_hash = 0;  // registered blocks with has_parent: for snapshots
    uint32_t refs = 0;
    bool registered = false;
    bool has_parent = false;
    block_index lru_prev = npos;
    block_index lru_next = npos;
  };

  void lru_push_back(block_index b) noexcept;
  void lru_unlink(block_index b) noexcept;
  block_index evict_lru(std::vector<uint64_t>* removed);
  void emit(engine::kv_event&& ev);

  std::vector<block> blocks_;
  std::vector<block_index> free_;
  std::unordered_map<uint64_t, block_index> cached_;
  block_index lru_head_ = npos;  // least recently used
  block_index lru_tail_ = npos;  // most recently used
  uint64_t inactive_count_ = 0;
  uint64_t active_count_ = 0;
  bool prefix_caching_;
  uint64_t next_event_id_ = 1;
  engine::kv_event_sink sink_;
};

} // namespace dynamo::batching
