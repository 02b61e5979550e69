#include "dynamo/kv_router/event_history.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::kv_router {

event_history::event_history(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {
}

void event_history::append(const engine::kv_event& ev) {
  if (ev.event_id <= last_id_)
    on_internal_error(fmt::format("event_history: event id {} after {}: ids must ascend",
                                  ev.event_id, last_id_));
  if (size_ == ring_.size()) {
    dropped_id_ = ring_[head_].event_id;
    ring_[head_] = ev;
    head_ = (head_ + 1) % ring_.size();
  } else {
    ring_[(head_ + size_) % ring_.size()] = ev;
    ++size_;
  }
  last_id_ = ev.event_id;
}

std::optional<std::vector<engine::kv_event>> event_history::since(uint64_t after) const {
  if (after < dropped_id_ || after > last_id_)
    return std::nullopt;
  // Ids ascend: binary search for the first event newer than `after`.
  size_t lo = 0;
  size_t hi = size_;
  while (lo < hi) {
    auto mid = lo + (hi - lo) / 2;
    if (at(mid).event_id <= after)
      lo = mid + 1;
    else
      hi = mid;
  }
  std::vector<engine::kv_event> result;
  result.reserve(size_ - lo);
  for (auto i = lo; i < size_; ++i)
    result.push_back(at(i));
  return result;
}

} // namespace dynamo::kv_router
