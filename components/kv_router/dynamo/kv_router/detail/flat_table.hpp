// Internal to prefix_index.cpp: the compact containers behind the prefix index — an
// open-addressing u64 table and the sorted set of workers holding one hash — and the heap
// estimate the index reports. Not a public header.
#pragma once

#include "dynamo/kv_router/prefix_index.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

namespace dynamo::kv_router::detail {

/// One worker holding one hash: `refs` external blocks of the worker map to it.
struct holder {
  worker_key worker = 0;
  uint32_t refs = 0;
  storage_tier tier = storage_tier::device;
};

inline bool by_worker(const holder& h, worker_key w) noexcept {
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

} // namespace dynamo::kv_router::detail
