#include "dynamo/kv_router/prefix_index.hpp"

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

namespace {

/// One worker holding one hash: `refs` external blocks of the worker map to it.
struct holder {
  worker_key worker = 0;
  uint32_t refs = 0;
  storage_tier tier = storage_tier::device;
};

bool by_worker(const holder& h, worker_key w) noexcept {
  return h.worker < w;
}

// Memory estimate: glibc malloc gives a request of n bytes max(32, round_up(n + 8, 16)) bytes.
constexpr uint64_t heap_block(uint64_t n) noexcept {
  return n == 0 ? 0 : std::max<uint64_t>(32, (n + 8 + 15) / 16 * 16);
}

/// splitmix64's finalizer: spreads any key over a table (tests use small integers as hashes).
constexpr uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Open-addressing table keyed by u64: linear probing, backward-shift deletion (no tombstones),
/// key 0 in a side slot. Capacity is 0 or a power of two >= 16 at load <= 3/4; it shrinks below
/// load 1/8 and frees its array when empty. Value pointers are valid until the next insert or
/// erase. One cache line per lookup in the common case, no allocation per entry.
template <class V>
class flat_table {
public:
  struct slot {
    uint64_t key = 0;
    V value{};
  };

  V* find(uint64_t key) noexcept {
    if (key == 0)
      return has_zero_ ? &zero_ : nullptr;
    const size_t i = index_of(key);
    return i == npos ? nullptr : &slots_[i].value;
  }

  const V* find(uint64_t key) const noexcept {
    if (key == 0)
      return has_zero_ ? &zero_ : nullptr;
    const size_t i = index_of(key);
    return i == npos ? nullptr : &slots_[i].value;
  }

  /// The value of `key`, value-initialised if new; the bool says whether it is new.
  std::pair<V*, bool> try_emplace(uint64_t key) {
    if (key == 0)
      return {&zero_, !std::exchange(has_zero_, true)};
    if (const size_t found = index_of(key); found != npos)
      return {&slots_[found].value, false};
    if ((used_ + 1) * 4 > slots_.size() * 3)
      rehash(std::max(min_capacity, slots_.size() * 2));
    size_t i = mix(key) & mask();
    while (slots_[i].key != 0)
      i = (i + 1) & mask();
    slots_[i].key = key;
    ++used_;
    return {&slots_[i].value, true};
  }

  /// Removes `key`; returns whether it was present.
  bool erase(uint64_t key) {
    if (key == 0) {
      zero_ = V{};
      return std::exchange(has_zero_, false);
    }
    size_t hole = index_of(key);
    if (hole == npos)
      return false;
    // Pull back every later entry of the probe run that may live at the hole.
    for (size_t j = (hole + 1) & mask(); slots_[j].key != 0; j = (j + 1) & mask()) {
      const size_t home = mix(slots_[j].key) & mask();
      if (((j - home) & mask()) >= ((j - hole) & mask())) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole] = slot{};
    if (--used_ == 0)
      slots_ = std::vector<slot>{};
    else if (slots_.size() > min_capacity && used_ * 8 < slots_.size())
      rehash(std::max(min_capacity, std::bit_ceil(used_ * 2)));
    return true;
  }

  /// Calls f(key, value&) for every entry; f must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    if (has_zero_)
      f(uint64_t{0}, zero_);
    for (auto& s : slots_)
      if (s.key != 0)
        f(s.key, s.value);
  }

  size_t size() const noexcept {
    return used_ + (has_zero_ ? 1 : 0);
  }

  /// Heap bytes of the slot array.
  uint64_t heap_bytes() const noexcept {
    return heap_block(slots_.size() * sizeof(slot));
  }

  uintptr_t data_address() const noexcept {
    return reinterpret_cast<uintptr_t>(slots_.data());
  }

  size_t mask() const noexcept {
    return slots_.empty() ? 0 : slots_.size() - 1;
  }

private:
  static constexpr size_t min_capacity = 16;
  static constexpr size_t npos = ~size_t{0};

  size_t index_of(uint64_t key) const noexcept {
    if (slots_.empty())
      return npos;
    for (size_t i = mix(key) & mask();; i = (i + 1) & mask()) {
      if (slots_[i].key == key)
        return i;
      if (slots_[i].key == 0)
        return npos;
    }
  }

  void rehash(size_t capacity) {
    std::vector<slot> old(capacity);
    old.swap(slots_);
    for (auto& s : old) {
      if (s.key == 0)
        continue;
      size_t i = mix(s.key) & mask();
      while (slots_[i].key != 0)
        i = (i + 1) & mask();
      slots_[i] = std::move(s);
    }
  }

  std::vector<slot> slots_;
  size_t used_ = 0;  ///< Entries in slots_ (key 0 excluded).
  bool has_zero_ = false;
  V zero_{};
};

/// The holders of one hash, sorted by worker: a single one inline (most hashes), more on the
/// heap.
class holder_set {
public:
  std::span<holder> items() noexcept {
    return size_ <= 1 ? std::span<holder>{&one_, size_} : std::span<holder>{many_.get(), size_};
  }

  std::span<const holder> items() const noexcept {
    return size_ <= 1 ? std::span<const holder>{&one_, size_}
                      : std::span<const holder>{many_.get(), size_};
  }

  bool empty() const noexcept {
    return size_ == 0;
  }

  /// The holder of `w`, or null.
  holder* find(worker_key w) noexcept {
    auto v = items();
    auto it = std::lower_bound(v.begin(), v.end(), w, by_worker);
    return it != v.end() && it->worker == w ? &*it : nullptr;
  }

  /// Adds `h`, whose worker is not present yet.
  void insert(holder h) {
    if (size_ == 0) {
      one_ = h;
      size_ = 1;
      return;
    }
    if (size_ == 1 || size_ == capacity_)
      reallocate(std::max<uint32_t>(4, capacity_ * 2));
    holder* first = many_.get();
    holder* pos = std::lower_bound(first, first + size_, h.worker, by_worker);
    std::move_backward(pos, first + size_, first + size_ + 1);
    *pos = h;
    ++size_;
  }

  /// Removes the holder `pos` points at (from find()).
  void erase(holder* pos) {
    if (size_ == 1) {
      one_ = holder{};
      size_ = 0;
      return;
    }
    holder* first = many_.get();
    std::move(pos + 1, first + size_, pos);
    if (--size_ == 1) {
      one_ = first[0];
      many_.reset();
      capacity_ = 0;
    } else if (capacity_ >= 16 && size_ * 4 <= capacity_) {
      reallocate(size_ * 2);
    }
  }

  uint64_t heap_bytes() const noexcept {
    return heap_block(uint64_t{capacity_} * sizeof(holder));
  }

private:
  void reallocate(uint32_t capacity) {
    auto bigger = std::make_unique<holder[]>(capacity);
    auto v = items();
    std::copy(v.begin(), v.end(), bigger.get());
    many_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<holder[]> many_;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;  ///< Of many_; 0 while size_ <= 1.
  holder one_{};
};

using hash_table = flat_table<holder_set>;

template <class Map>
uint64_t map_bytes(const Map& m) noexcept {
  constexpr uint64_t node = sizeof(void*) + sizeof(typename Map::value_type);
  return m.size() * heap_block(node)
         + (m.bucket_count() > 1 ? heap_block(m.bucket_count() * sizeof(void*)) : 0);
}

} // namespace

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
