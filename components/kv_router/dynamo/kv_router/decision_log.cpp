#include "dynamo/kv_router/decision_log.hpp"

#include "dynamo/error.hpp"

#include <algorithm>
#include <vector>

namespace dynamo::kv_router {

namespace {

/// Erases `keys` from the index, one erase call per worker.
template <class Key>
void erase_from_index(prefix_index& index, std::vector<Key>& keys) {
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.worker != b.worker ? a.worker < b.worker : a.hash < b.hash;
  });
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < keys.size();) {
    const auto worker = keys[i].worker;
    hashes.clear();
    for (; i < keys.size() && keys[i].worker == worker; ++i)
      hashes.push_back(keys[i].hash);
    index.erase(worker, hashes);
  }
}

double sanitize_ratio(double r) noexcept {
  return r >= 0.0 ? std::min(r, 1.0) : 0.0;  // NaN compares false: 0.
}

} // namespace

size_t decision_log::entry_key_hash::operator()(const entry_key& k) const noexcept {
  return static_cast<size_t>(k.hash ^ (k.worker * 0x9E3779B97F4A7C15ull));
}

decision_log::decision_log(prefix_index& index, std::chrono::milliseconds ttl,
                           uint64_t max_blocks, double prune_ratio)
  : index_(index),
    ttl_(std::max(ttl, std::chrono::milliseconds{1})),
    max_blocks_(std::max<uint64_t>(max_blocks, 1)),
    prune_target_(static_cast<uint64_t>(sanitize_ratio(prune_ratio)
                                        * static_cast<double>(max_blocks_))) {
}

void decision_log::record(worker_key worker, std::span<const uint64_t> sequence_hashes,
                          clock::time_point now) {
  latest_now_ = std::max(now, latest_now_);
  const auto deadline = latest_now_ + ttl_;
  for (auto h : sequence_hashes) {
    auto [it, fresh] = live_.try_emplace(entry_key{worker, h}, deadline);
    if (!fresh) {
      if (it->second == deadline)
        continue;  // Already recorded at this instant: its FIFO item is current.
      it->second = deadline;
    }
    fifo_.push_back(fifo_item{deadline, it->first});
  }
  // Idempotent for blocks the index already holds; also restores any it dropped.
  index_.insert(worker, sequence_hashes);
  if (live_.size() > max_blocks_)
    prune();
  compact_if_sparse();
}

size_t decision_log::expire(clock::time_point now) {
  latest_now_ = std::max(now, latest_now_);
  std::vector<entry_key> expired;
  for (;;) {
    skip_stale();
    if (fifo_.empty() || fifo_.front().deadline > now)
      break;
    expired.push_back(fifo_.front().key);
    live_.erase(fifo_.front().key);
    fifo_.pop_front();
  }
  erase_from_index(index_, expired);
  const size_t pruned = prune();
  compact_if_sparse();
  return expired.size() + pruned;
}

void decision_log::remove_worker(worker_key worker) {
  std::erase_if(live_, [worker](const auto& entry) { return entry.first.worker == worker; });
  index_.remove_worker(worker);
  compact_if_sparse();
}

uint64_t decision_log::size() const {
  return live_.size();
}

void decision_log::skip_stale() {
  while (!fifo_.empty()) {
    auto it = live_.find(fifo_.front().key);
    if (it != live_.end() && it->second == fifo_.front().deadline)
      return;
    fifo_.pop_front();
  }
}

size_t decision_log::prune() {
  if (live_.size() <= max_blocks_)
    return 0;
  std::vector<entry_key> pruned;
  while (live_.size() > prune_target_) {
    skip_stale();
    if (fifo_.empty())
      on_internal_error("decision_log: live entries without a FIFO item");
    pruned.push_back(fifo_.front().key);
    live_.erase(fifo_.front().key);
    fifo_.pop_front();
  }
  erase_from_index(index_, pruned);
  return pruned.size();
}

void decision_log::compact_if_sparse() {
  constexpr size_t slack = 1024;
  if (fifo_.size() <= 2 * live_.size() + slack)
    return;
  std::erase_if(fifo_, [this](const fifo_item& item) {
    auto it = live_.find(item.key);
    return it == live_.end() || it->second != item.deadline;
  });
  fifo_.shrink_to_fit();
}

} // namespace dynamo::kv_router
