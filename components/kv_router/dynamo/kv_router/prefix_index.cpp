#include "dynamo/kv_router/prefix_index.hpp"

#include "dynamo/kv_router/detail/flat_table.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <mutex>
#include <optional>
#include <span>
#include <shared_mutex>
#include <utility>
#include <unordered_map>
#include <vector>

namespace dynamo::kv_router {

using namespace detail;

struct alignas(64) shard {
  mutable std::shared_mutex mu;
  hash_table table;
  uint64_t holder_heap = 0;  ///< Sum of heap_bytes() over table's holder sets (under mu).
  /// table's slot array and mask, readable without the lock for prefetching only: a stale
  /// value costs a useless prefetch, never a fault.
  std::atomic<uintptr_t> hint_slots{0};
  std::atomic<size_t> hint_mask{0};

  /// Refreshes the prefetch hint after a change (caller holds mu exclusively).
  void publish() noexcept {
    hint_slots.store(table.data_address(), std::memory_order_relaxed);
    hint_mask.store(table.mask(), std::memory_order_relaxed);
  }

  void prefetch(uint64_t h) const noexcept {
    const auto base = hint_slots.load(std::memory_order_relaxed);
    if (base != 0)
      __builtin_prefetch(reinterpret_cast<const void*>(
        base + (mix(h) & hint_mask.load(std::memory_order_relaxed)) * sizeof(hash_table::slot)));
  }
};

struct worker_state {
  std::mutex mu;
  flat_table<uint64_t> blocks;  ///< External hash -> router-side hash.
  uint64_t entries = 0;         ///< Distinct router-side hashes held.
  bool removed = false;  ///< Set once remove_worker dropped this state; users must look it up again.
};

using worker_ptr = std::shared_ptr<worker_state>;

/// Upper bound on index_config::shards (more only costs memory).
constexpr size_t max_shards = size_t{1} << 16;

struct prefix_index::state {
  explicit state(index_config cfg)
    : max_blocks(cfg.max_blocks),
      shard_bits(static_cast<unsigned>(
        std::countr_zero(std::bit_ceil(std::clamp<size_t>(cfg.shards, 1, max_shards))))),
      shards(size_t{1} << shard_bits) {
  }

  const uint64_t max_blocks;
  const unsigned shard_bits;
  std::vector<shard> shards;

  mutable std::shared_mutex registry_mu;
  std::unordered_map<worker_key, worker_ptr> registry;

  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> hashes{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> unknown_parent{0};
  std::atomic<uint64_t> unknown_removed{0};
  std::atomic<uint64_t> malformed{0};

  /// Fibonacci hashing on the high bits, so that small test keys spread too.
  size_t shard_of(uint64_t h) const noexcept {
    if (shard_bits == 0)
      return 0;
    return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> (64 - shard_bits));
  }

  shard& shard_for(uint64_t h) noexcept {
    return shards[shard_of(h)];
  }

  const shard& shard_for(uint64_t h) const noexcept {
    return shards[shard_of(h)];
  }

  bool full() const noexcept {
    return max_blocks != 0 && entries.load(std::memory_order_relaxed) >= max_blocks;
  }

  /// Takes one entry slot unless that would exceed max_blocks.
  bool reserve_entry() noexcept {
    if (max_blocks == 0) {
      entries.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    auto cur = entries.load(std::memory_order_relaxed);
    while (cur < max_blocks)
      if (entries.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed))
        return true;
    return false;
  }

  worker_ptr find_worker(worker_key w) const {
    std::shared_lock guard{registry_mu};
    auto i = registry.find(w);
    return i == registry.end() ? nullptr : i->second;
  }

  worker_ptr find_or_add_worker(worker_key w) {
    if (auto found = find_worker(w))
      return found;
    std::unique_lock guard{registry_mu};
    auto& slot = registry[w];
    if (!slot)
      slot = std::make_shared<worker_state>();
    return slot;
  }

  /// Runs `f(worker_state&)` under the worker's lock on a live state (created if `create`).
  /// Returns false when the worker is unknown and `create` is false.
  template <class F>
  bool with_worker(worker_key w, bool create, F&& f) {
    for (;;) {
      auto ws = create ? find_or_add_worker(w) : find_worker(w);
      if (!ws)
        return false;
      std::lock_guard guard{ws->mu};
      if (ws->removed)
        continue;
      f(*ws);
      return true;
    }
  }

  /// Adds one external reference of `w` to router-side hash `h`. Returns false when refused.
  bool add_ref(worker_state& ws, worker_key w, uint64_t h, storage_tier tier) {
    auto& s = shard_for(h);
    std::unique_lock guard{s.mu};
    auto [set, fresh_hash] = s.table.try_emplace(h);
    if (auto* mine = set->find(w)) {
      ++mine->refs;
      mine->tier = tier;
      return true;
    }
    if (!reserve_entry()) {
      if (fresh_hash) {
        s.table.erase(h);
        s.publish();
      }
      return false;
    }
    const auto before = set->heap_bytes();
    set->insert(holder{w, 1, tier});
    s.holder_heap += set->heap_bytes() - before;
    if (fresh_hash) {
      hashes.fetch_add(1, std::memory_order_relaxed);
      s.publish();
    }
    ++ws.entries;
    return true;
  }

  /// The holder of `w` for `h` in `s` (caller holds s.mu); a missing one is a broken invariant.
  static std::pair<holder_set*, holder*> locate(shard& s, worker_key w, uint64_t h) {
    auto* set = s.table.find(h);
    auto* mine = set != nullptr ? set->find(w) : nullptr;
    if (mine == nullptr)
      on_internal_error("prefix_index: a worker's block map names a hash the shards lack");
    return {set, mine};
  }

  /// Updates the tier of an entry `w` holds.
  void set_tier(worker_key w, uint64_t h, storage_tier tier) {
    auto& s = shard_for(h);
    std::unique_lock guard{s.mu};
    locate(s, w, h).second->tier = tier;
  }

  /// Removes the entry (w, h) from `s` (caller holds s.mu exclusively).
  void drop(shard& s, worker_state& ws, worker_key w, uint64_t h) {
    auto [set, mine] = locate(s, w, h);
    const auto before = set->heap_bytes();
    set->erase(mine);
    s.holder_heap -= before - set->heap_bytes();
    entries.fetch_sub(1, std::memory_order_relaxed);
    --ws.entries;
    if (set->empty()) {
      s.table.erase(h);
      s.publish();
      hashes.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  /// Drops one external reference of `w` to `h`.
  void release_ref(worker_state& ws, worker_key w, uint64_t h) {
    auto& s = shard_for(h);
    std::unique_lock guard{s.mu};
    if (--locate(s, w, h).second->refs == 0)
      drop(s, ws, w, h);
  }

  /// Records external block `ext` -> router-side `h` for `w`. `allow_new` false refuses any block
  /// the worker does not hold yet. Returns false when the block was refused.
  bool store(worker_state& ws, worker_key w, uint64_t ext, uint64_t h, storage_tier tier,
             bool allow_new) {
    if (auto* known = ws.blocks.find(ext)) {
      if (*known == h) {
        set_tier(w, h, tier);
        return true;
      }
      // The engine reused an external id for other content: move the reference.
      if (!add_ref(ws, w, h, tier))
        return false;
      release_ref(ws, w, std::exchange(*known, h));
      return true;
    }
    if (!allow_new || !add_ref(ws, w, h, tier))
      return false;
    *ws.blocks.try_emplace(ext).first = h;
    return true;
  }

  /// Forgets external block `ext` of `w`; returns false if the worker did not hold it.
  bool forget(worker_state& ws, worker_key w, uint64_t ext) {
    auto* known = ws.blocks.find(ext);
    if (known == nullptr)
      return false;
    const auto h = *known;
    ws.blocks.erase(ext);
    release_ref(ws, w, h);
    return true;
  }

  /// Drops every block of `w` (caller holds ws.mu), one lock per touched shard.
  void clear(worker_state& ws, worker_key w) {
    std::vector<std::pair<size_t, uint64_t>> by_shard;
    by_shard.reserve(ws.blocks.size());
    ws.blocks.for_each([this, &by_shard](uint64_t, uint64_t h) {
      by_shard.emplace_back(shard_of(h), h);
    });
    ws.blocks = flat_table<uint64_t>{};
    std::sort(by_shard.begin(), by_shard.end());
    by_shard.erase(std::unique(by_shard.begin(), by_shard.end()), by_shard.end());
    for (size_t i = 0; i < by_shard.size();) {
      const size_t index = by_shard[i].first;
      auto& s = shards[index];
      std::unique_lock guard{s.mu};
      for (; i < by_shard.size() && by_shard[i].first == index; ++i)
        drop(s, ws, w, by_shard[i].second);
    }
    if (ws.entries != 0)
      on_internal_error("prefix_index: worker entry count out of sync after clear");
  }

  apply_status store_event(worker_state& ws, worker_key w, const engine::kv_event& ev,
                           storage_tier tier) {
    const auto& ext = ev.block_hashes;
    const auto& local = ev.token_hashes;
    if (!local.empty() && local.size() != ext.size()) {
      malformed.fetch_add(1, std::memory_order_relaxed);
      return apply_status::unknown_parent;
    }
    if (ext.empty())
      return apply_status::ok;
    std::optional<uint64_t> prev;
    if (ev.parent_hash) {
      const auto* parent = ws.blocks.find(*ev.parent_hash);
      if (parent == nullptr) {
        if (full()) {
          refused.fetch_add(ext.size(), std::memory_order_relaxed);
          return apply_status::refused;
        }
        unknown_parent.fetch_add(1, std::memory_order_relaxed);
        return apply_status::unknown_parent;
      }
      prev = *parent;
    }
    uint64_t refused_here = 0;
    for (size_t i = 0; i < ext.size(); ++i) {
      uint64_t h = ext[i];
      if (!local.empty())
        h = prev ? engine::chain_sequence_hash(*prev, local[i]) : local[i];
      if (!store(ws, w, ext[i], h, tier, refused_here == 0))
        ++refused_here;
      prev = h;
    }
    if (refused_here == 0)
      return apply_status::ok;
    refused.fetch_add(refused_here, std::memory_order_relaxed);
    return apply_status::refused;
  }

  void remove_event(worker_state& ws, worker_key w, const engine::kv_event& ev) {
    for (auto ext : ev.block_hashes)
      if (!forget(ws, w, ext))
        unknown_removed.fetch_add(1, std::memory_order_relaxed);
  }
};

prefix_index::prefix_index(index_config cfg) : state_(std::make_unique<state>(cfg)) {
}

prefix_index::~prefix_index() = default;

apply_status prefix_index::apply(worker_key worker, const engine::kv_event& ev,
                                 storage_tier tier) {
  auto result = apply_status::ok;
  state_->with_worker(worker, true, [&](worker_state& ws) {
    switch (ev.type) {
      case engine::kv_event::kind::stored:
        result = state_->store_event(ws, worker, ev, tier);
        break;
      case engine::kv_event::kind::removed:
        state_->remove_event(ws, worker, ev);
        break;
      case engine::kv_event::kind::cleared:
        state_->clear(ws, worker);
        break;
    }
  });
  return result;
}

apply_status prefix_index::insert(worker_key worker, std::span<const uint64_t> sequence_hashes,
                                  storage_tier tier) {
  uint64_t refused_here = 0;
  state_->with_worker(worker, true, [&](worker_state& ws) {
    for (auto h : sequence_hashes)
      if (!state_->store(ws, worker, h, h, tier, refused_here == 0))
        ++refused_here;
  });
  if (refused_here == 0)
    return apply_status::ok;
  state_->refused.fetch_add(refused_here, std::memory_order_relaxed);
  return apply_status::refused;
}

void prefix_index::erase(worker_key worker, std::span<const uint64_t> sequence_hashes) {
  state_->with_worker(worker, false, [&](worker_state& ws) {
    for (auto h : sequence_hashes)
      state_->forget(ws, worker, h);
  });
}

void prefix_index::clear_worker(worker_key worker) {
  state_->with_worker(worker, false, [&](worker_state& ws) { state_->clear(ws, worker); });
}

void prefix_index::remove_worker(worker_key worker) {
  // Clear under the worker's lock, then unregister while still holding it: nobody can store
  // for this worker in between, and a later user sees `removed` and registers a fresh state.
  state_->with_worker(worker, false, [&](worker_state& ws) {
    state_->clear(ws, worker);
    ws.removed = true;
    std::unique_lock guard{state_->registry_mu};
    state_->registry.erase(worker);
    if (state_->registry.empty())
      decltype(state_->registry){}.swap(state_->registry);
  });
}

match_result prefix_index::find_matches(std::span<const uint64_t> sequence_hashes) const {
  // Blocks this far ahead are prefetched: the walk usually continues, and independent misses
  // overlap instead of queueing behind each other.
  constexpr size_t prefetch_distance = 8;
  match_result result;
  const auto& q = sequence_hashes;
  if (q.empty())
    return result;
  for (size_t i = 0; i < std::min(q.size(), prefetch_distance); ++i)
    state_->shard_for(q[i]).prefetch(q[i]);
  std::vector<worker_overlap> active;
  {
    const auto& s = state_->shard_for(q[0]);
    std::shared_lock guard{s.mu};
    const auto* set = s.table.find(q[0]);
    if (set == nullptr)
      return result;
    active.reserve(set->items().size());
    for (const auto& h : set->items()) {
      worker_overlap o{h.worker, 1, {}};
      ++o.tier_blocks[static_cast<size_t>(h.tier)];
      active.push_back(o);
    }
  }
  auto& done = result.overlaps;
  done.reserve(active.size());
  for (size_t i = 1; i < q.size() && !active.empty(); ++i) {
    if (i + prefetch_distance < q.size())
      state_->shard_for(q[i + prefetch_distance]).prefetch(q[i + prefetch_distance]);
    const auto& s = state_->shard_for(q[i]);
    std::shared_lock guard{s.mu};
    const auto* set = s.table.find(q[i]);
    if (set == nullptr)
      break;
    // Both lists are sorted by worker: one merge pass keeps those that match this block too.
    const auto holders = set->items();
    auto h = holders.begin();
    size_t kept = 0;
    for (auto& o : active) {
      while (h != holders.end() && h->worker < o.worker)
        ++h;
      if (h != holders.end() && h->worker == o.worker) {
        ++o.blocks;
        ++o.tier_blocks[static_cast<size_t>(h->tier)];
        active[kept++] = o;
      } else {
        done.push_back(o);
      }
    }
    active.resize(kept);
  }
  done.insert(done.end(), active.begin(), active.end());
  std::sort(done.begin(), done.end(),
            [](const worker_overlap& a, const worker_overlap& b) { return a.worker < b.worker; });
  return result;
}

uint64_t prefix_index::worker_blocks(worker_key worker) const {
  auto ws = state_->find_worker(worker);
  if (!ws)
    return 0;
  std::lock_guard guard{ws->mu};
  return ws->removed ? 0 : ws->entries;
}

index_stats prefix_index::stats() const {
  index_stats st;
  st.entries = state_->entries.load(std::memory_order_relaxed);
  st.hashes = state_->hashes.load(std::memory_order_relaxed);
  st.refused = state_->refused.load(std::memory_order_relaxed);
  st.unknown_parent = state_->unknown_parent.load(std::memory_order_relaxed);
  st.unknown_removed = state_->unknown_removed.load(std::memory_order_relaxed);
  st.malformed = state_->malformed.load(std::memory_order_relaxed);
  uint64_t bytes = sizeof(state) + heap_block(state_->shards.size() * sizeof(shard));
  for (const auto& s : state_->shards) {
    std::shared_lock guard{s.mu};
    bytes += s.table.heap_bytes() + s.holder_heap;
  }
  // Never lock a worker while holding the registry lock (remove_worker takes them the other way).
  std::vector<worker_ptr> workers;
  {
    std::shared_lock guard{state_->registry_mu};
    bytes += map_bytes(state_->registry);
    workers.reserve(state_->registry.size());
    for (const auto& [key, ws] : state_->registry)
      workers.push_back(ws);
  }
  st.workers = workers.size();
  for (const auto& ws : workers) {
    std::lock_guard guard{ws->mu};
    // The state shares one heap block with its shared_ptr control block (make_shared).
    bytes += heap_block(sizeof(worker_state) + 16) + ws->blocks.heap_bytes();
  }
  st.memory_bytes = bytes;
  return st;
}

std::vector<worker_key> prefix_index::workers() const {
  std::vector<worker_key> result;
  {
    std::shared_lock guard{state_->registry_mu};
    result.reserve(state_->registry.size());
    for (const auto& entry : state_->registry)
      result.push_back(entry.first);
  }
  std::sort(result.begin(), result.end());
  return result;
}

} // namespace dynamo::kv_router
