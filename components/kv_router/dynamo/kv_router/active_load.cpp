#include "dynamo/kv_router/active_load.hpp"

#include "dynamo/error.hpp"

#include <algorithm>
#include <utility>

namespace dynamo::kv_router {

active_load::active_load(uint32_t block_size) : block_size_(block_size) {
  if (block_size_ == 0)
    on_internal_error("active_load: block_size must be >= 1");
}

uint64_t active_load::tail_blocks(uint32_t prompt_tokens,
                                  uint32_t expected_output_tokens) const noexcept {
  const uint64_t tail = uint64_t{prompt_tokens % block_size_} + expected_output_tokens;
  return (tail + block_size_ - 1) / block_size_;
}

namespace {

/// Smallest table size.
constexpr size_t min_slots = 64;

} // namespace

uint32_t holder_table::new_overflow() {
  if (!free_overflow_.empty()) {
    const auto more = free_overflow_.back();
    free_overflow_.pop_back();
    return more;
  }
  overflow_.emplace_back();
  return static_cast<uint32_t>(overflow_.size());
}

void holder_table::free_overflow(uint32_t more) {
  auto& list = overflow_[more - 1];
  list.clear();
  if (list.capacity() > 16)
    list.shrink_to_fit();
  free_overflow_.push_back(more);
}

void holder_table::rehash(size_t capacity) {
  std::vector<slot> old(capacity);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const auto& x : old) {
    if (x.refs == 0)
      continue;
    size_t i = home(x.hash);
    while (slots_[i].refs != 0)
      i = (i + 1) & mask;
    slots_[i] = x;
  }
}

void holder_table::erase_at(size_t i) {
  const size_t mask = slots_.size() - 1;
  for (size_t j = (i + 1) & mask; slots_[j].refs != 0; j = (j + 1) & mask) {
    // Slot j may move back to the hole at i unless its home lies cyclically in (i, j].
    const size_t k = home(slots_[j].hash);
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays)
      continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = slot{};
  --used_;
  if (slots_.size() > min_slots && used_ * 8 < slots_.size()) {
    size_t capacity = min_slots;
    while (capacity < used_ * 4)
      capacity *= 2;
    rehash(capacity);
  }
}

bool holder_table::hold(uint64_t hash, worker_key worker) {
  if ((used_ + 1) * 2 > slots_.size())
    rehash(std::max(min_slots, slots_.size() * 2));
  const size_t mask = slots_.size() - 1;
  size_t i = home(hash);
  while (slots_[i].refs != 0 && slots_[i].hash != hash)
    i = (i + 1) & mask;
  auto& x = slots_[i];
  if (x.refs == 0) {
    x = slot{hash, worker, 1, 0};
    ++used_;
    return true;
  }
  if (x.worker == worker) {
    ++x.refs;
    return false;
  }
  if (x.more == 0) {
    const auto more = new_overflow();  // may reallocate overflow_, not slots_
    slots_[i].more = more;
  }
  auto& list = overflow_[slots_[i].more - 1];
  for (auto& h : list)
    if (h.worker == worker) {
      ++h.refs;
      return false;
    }
  list.push_back(holder{worker, 1});
  return true;
}

bool holder_table::release(uint64_t hash, worker_key worker) {
  const size_t i = find(hash);
  if (i == npos)
    on_internal_error("active_load: releasing a prompt block nobody holds");
  auto& x = slots_[i];
  if (x.worker == worker) {
    if (--x.refs > 0)
      return false;
    if (x.more == 0) {
      erase_at(i);
      return true;
    }
    auto& list = overflow_[x.more - 1];
    x.worker = list.back().worker;
    x.refs = list.back().refs;
    list.pop_back();
    if (list.empty()) {
      free_overflow(x.more);
      x.more = 0;
    }
    return true;
  }
  if (x.more != 0) {
    auto& list = overflow_[x.more - 1];
    for (auto& h : list) {
      if (h.worker != worker)
        continue;
      if (--h.refs > 0)
        return false;
      h = list.back();
      list.pop_back();
      if (list.empty()) {
        free_overflow(x.more);
        x.more = 0;
      }
      return true;
    }
  }
  on_internal_error("active_load: releasing a prompt block the worker does not hold");
}

void active_load::hold_blocks(worker_key worker, std::span<const uint64_t> hashes,
                              worker_state& w) {
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i + prefetch_distance < hashes.size())
      blocks_.prefetch(hashes[i + prefetch_distance]);
    if (blocks_.hold(hashes[i], worker))
      ++w.distinct_blocks;
  }
}

void active_load::release_blocks(worker_key worker, std::span<const uint64_t> hashes,
                                 worker_state& w) {
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i + prefetch_distance < hashes.size())
      blocks_.prefetch(hashes[i + prefetch_distance]);
    if (blocks_.release(hashes[i], worker))
      --w.distinct_blocks;
  }
}

bool active_load::add(tracked_request r, clock::time_point now) {
  if (requests_.contains(r.id))
    return false;
  auto& w = workers_[r.worker];
  request_state st;
  st.worker = r.worker;
  st.prefill_tokens = r.prefill_tokens;
  st.tail_blocks = tail_blocks(r.prompt_tokens, r.expected_output_tokens);
  st.prompt_hashes = std::move(r.prompt_hashes);
  hold_blocks(r.worker, st.prompt_hashes, w);
  w.requests.insert(r.id);
  w.prefill_tokens += st.prefill_tokens;
  w.tail_blocks += st.tail_blocks;
  st.added = by_time_.emplace(now, r.id);
  requests_.emplace(r.id, std::move(st));
  return true;
}

bool active_load::prefill_done(uint64_t id) {
  auto i = requests_.find(id);
  if (i == requests_.end() || !i->second.prefilling)
    return false;
  auto& st = i->second;
  auto w = workers_.find(st.worker);
  if (w == workers_.end())
    on_internal_error("active_load: a tracked request's worker is missing");
  st.prefilling = false;
  w->second.prefill_tokens -= st.prefill_tokens;
  return true;
}

void active_load::drop(std::unordered_map<uint64_t, request_state>::iterator i) {
  if (i == requests_.end())
    on_internal_error("active_load: dropping a request that is not tracked");
  auto& st = i->second;
  auto wi = workers_.find(st.worker);
  if (wi == workers_.end())
    on_internal_error("active_load: a tracked request's worker is missing");
  auto& w = wi->second;
  release_blocks(st.worker, st.prompt_hashes, w);
  if (st.prefilling)
    w.prefill_tokens -= st.prefill_tokens;
  w.tail_blocks -= st.tail_blocks;
  w.requests.erase(i->first);
  by_time_.erase(st.added);
  if (w.requests.empty()) {
    if (w.prefill_tokens != 0 || w.distinct_blocks != 0 || w.tail_blocks != 0)
      on_internal_error("active_load: a worker without requests still has load");
    workers_.erase(wi);
  }
  requests_.erase(i);
}

bool active_load::finish(uint64_t id) {
  auto i = requests_.find(id);
  if (i == requests_.end())
    return false;
  drop(i);
  return true;
}

load_snapshot active_load::load(worker_key worker) const {
  auto i = workers_.find(worker);
  if (i == workers_.end())
    return {};
  const auto& w = i->second;
  return load_snapshot{static_cast<uint32_t>(w.requests.size()), w.prefill_tokens,
                       w.distinct_blocks + w.tail_blocks};
}

uint64_t active_load::potential_decode_blocks(worker_key worker,
                                              std::span<const uint64_t> prompt_hashes,
                                              uint32_t prompt_tokens,
                                              uint32_t expected_output_tokens) const {
  uint64_t held = 0;
  for_each_holder(prompt_hashes, [worker, &held](worker_key w) { held += w == worker ? 1 : 0; });
  return load(worker).decode_blocks + (prompt_hashes.size() - held)
         + tail_blocks(prompt_tokens, expected_output_tokens);
}

std::vector<uint64_t> active_load::remove_worker(worker_key worker) {
  std::vector<uint64_t> ids;
  auto wi = workers_.find(worker);
  if (wi == workers_.end())
    return ids;
  ids.assign(wi->second.requests.begin(), wi->second.requests.end());
  std::sort(ids.begin(), ids.end());
  for (auto id : ids)
    drop(requests_.find(id));
  return ids;
}

std::vector<uint64_t> active_load::expire(clock::time_point cutoff) {
  std::vector<uint64_t> ids;
  while (!by_time_.empty() && by_time_.begin()->first < cutoff) {
    auto id = by_time_.begin()->second;
    ids.push_back(id);
    drop(requests_.find(id));
  }
  return ids;
}

std::optional<worker_key> active_load::worker_of(uint64_t id) const {
  auto i = requests_.find(id);
  if (i == requests_.end())
    return std::nullopt;
  return i->second.worker;
}

} // namespace dynamo::kv_router
