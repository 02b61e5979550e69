// The global prefix index: which worker holds which KV block, so that the router can ask, for a
// request's chained block hashes, how many leading blocks each worker already caches.
//
// Keys. The index is keyed by router-side chained sequence hashes (engine::hash_blocks(...)
// .sequence: seq[0] = local[0], seq[i] = engine::chain_sequence_hash(seq[i-1], local[i]), XXH3
// seed 1337). A stored event carries the engine's *external* sequence hashes (block_hashes), the
// local token hashes (token_hashes) and optionally the external hash of the block before the
// first one (parent_hash). Our engines emit external == router-side hashes, other engines may
// not, so the index recomputes router-side hashes along the parent chain and keeps, per worker,
// a map external -> router-side:
//   router[i] = chain_sequence_hash(router[i-1], token_hashes[i]), where router[-1] is the
//   router-side hash of the parent (looked up by its external hash in this worker's map) or,
//   without a parent, router[0] = token_hashes[0].
// A parent the worker does not hold makes the whole event dropped (apply_status::unknown_parent:
// the caller resynchronises the worker with a full dump). An event without token_hashes uses its
// block_hashes as router-side hashes directly. An event whose token_hashes and block_hashes
// differ in length is malformed: dropped, counted in index_stats::malformed, reported as
// unknown_parent (resynchronise). Removed events name external hashes; unknown ones are counted
// in index_stats::unknown_removed. insert()/erase() take router-side hashes (external == router).
//
// Entries. An entry is one (worker, router-side hash) pair, held at one storage tier. Storing a
// block the worker already holds is idempotent and updates the tier (latest wins). If two
// external hashes of one worker map to the same router-side hash, the entry is reference
// counted and lives until both are removed. Removing the last holder of a hash frees the hash;
// clear_worker/remove_worker leave nothing of the worker behind. Removing a block in the middle
// of a chain does not remove its descendants: find_matches stops at the hole.
//
// Bound. With max_blocks > 0, a stored block that would create an entry beyond max_blocks is
// refused, as are the blocks after it in the same event (they would be unreachable); they are
// counted in index_stats::refused and apply returns apply_status::refused. Existing entries are
// kept. While the index is full, a stored event whose parent is unknown is also reported as
// refused (its parent was most likely refused) rather than unknown_parent, so that a full index
// does not cause resynchronisation storms.
//
// Concurrency. The hash -> holders map is split into shards by hash, each an open-addressing
// table behind a reader/writer lock; holders are kept sorted by worker (one inline, more on the
// heap). Per-worker state (the external map) sits behind a per-worker mutex. Events of one
// worker must be applied in order by one thread at a time; different workers may be applied
// concurrently, and queries run concurrently with everything (readers share shard locks, so
// queries never block each other; they prefetch the slots of the next blocks). A query that
// races with updates sees each block either before or after the update.
//
// Matching. find_matches walks the query in order, keeping the set of workers that matched every
// block so far; a worker leaving the set keeps its depth; the walk stops once the set is empty.
// Per worker it also counts the matched blocks per tier.
//
// Memory. index_stats::memory_bytes = shard slot arrays (capacity x 40 B; load 1/8..3/4)
// + holder arrays of hashes held by two or more workers (capacity x 16 B) + per-worker external
// maps (capacity x 16 B) + per-worker state + the worker registry + the fixed shards, every heap
// block rounded as glibc malloc does (8 B header, 16 B granules, 32 B minimum). Tables shrink
// when sparse and are freed when empty, so the estimate (and the real heap) returns to the
// baseline once every worker is removed. About 100 B per entry at 1M entries over 64 workers.
#pragma once

#include "dynamo/engine/types.hpp"
#include "dynamo/kv_router/storage_tier.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace dynamo::kv_router {

using worker_key = uint64_t;  ///< A worker's instance id.

/// Construction parameters of a prefix_index.
struct index_config {
  size_t shards = 64;         ///< Hash-map shards (rounded up to a power of two, 1..65536).
  uint64_t max_blocks = 0;    ///< Bound on (worker, block) entries; 0 = unbounded.
};

/// How far one worker matches a query.
struct worker_overlap {
  worker_key worker = 0;
  uint32_t blocks = 0;  ///< Consecutive blocks from the query's first that the worker holds.
  std::array<uint32_t, storage_tier_count> tier_blocks{};  ///< Of `blocks`, how many per tier.
};

/// Answer of find_matches.
struct match_result {
  std::vector<worker_overlap> overlaps;  ///< One per worker with blocks > 0, sorted by worker.
};

/// Counters of a prefix_index.
struct index_stats {
  uint64_t entries = 0;          ///< (worker, block) pairs held.
  uint64_t hashes = 0;           ///< Distinct sequence hashes held.
  uint64_t workers = 0;          ///< Known workers (including cleared ones).
  uint64_t memory_bytes = 0;     ///< Estimate of the heap the index uses (formula above).
  uint64_t refused = 0;          ///< Stored blocks refused because of max_blocks.
  uint64_t unknown_parent = 0;   ///< Stored events whose parent the worker did not hold.
  uint64_t unknown_removed = 0;  ///< Removed hashes the worker did not hold.
  uint64_t malformed = 0;        ///< Stored events dropped: token/block hash counts differ.
};

/// Outcome of applying one event.
enum class apply_status : uint8_t {
  ok,              ///< Applied.
  unknown_parent,  ///< Stored event whose parent_hash this worker does not hold: dropped; the
                   ///< caller should resynchronise the worker (full dump).
  refused,         ///< Some blocks were not stored because the index is at max_blocks.
};

/// The global prefix index (see the top of this file for the exact semantics).
class prefix_index {
public:
  /// Creates an empty index. Any thread.
  explicit prefix_index(index_config cfg = {});

  /// Frees everything; no other thread may still use the index.
  ~prefix_index();

  /// Not copyable (shared by reference between the router's threads).
  prefix_index(const prefix_index&) = delete;
  prefix_index& operator=(const prefix_index&) = delete;

  /// Applies one KV event of `worker` (stored / removed / cleared) at `tier`. Thread-safe; the
  /// events of one worker must be applied in order by one thread at a time (different workers
  /// concurrently, and concurrently with find_matches).
  apply_status apply(worker_key worker, const engine::kv_event& ev,
                     storage_tier tier = storage_tier::device);

  /// Records that `worker` holds the blocks with these (router-side) chained sequence hashes
  /// (approximate mode, tests). Thread-safe like apply. Returns refused if some were refused.
  apply_status insert(worker_key worker, std::span<const uint64_t> sequence_hashes,
                      storage_tier tier = storage_tier::device);

  /// Forgets these sequence hashes for `worker` (unknown ones are ignored). Thread-safe like
  /// apply.
  void erase(worker_key worker, std::span<const uint64_t> sequence_hashes);

  /// Drops every block of `worker` but keeps knowing it (a "cleared" event). Thread-safe.
  void clear_worker(worker_key worker);

  /// Drops every block of `worker` and the worker. Thread-safe.
  void remove_worker(worker_key worker);

  /// Per worker, how many leading blocks of the query (router-side chained sequence hashes, as
  /// engine::hash_blocks(...).sequence) it holds consecutively. Thread-safe, lock-light:
  /// concurrent queries never block each other.
  match_result find_matches(std::span<const uint64_t> sequence_hashes) const;

  /// Blocks (entries) held by `worker` (0 if unknown). Thread-safe.
  uint64_t worker_blocks(worker_key worker) const;

  /// Counters and the memory estimate. Thread-safe.
  index_stats stats() const;

  /// Known workers, sorted. Thread-safe.
  std::vector<worker_key> workers() const;

private:
  struct state;
  std::unique_ptr<state> state_;
};

} // namespace dynamo::kv_router
