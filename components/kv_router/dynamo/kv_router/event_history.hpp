// A worker's memory of the KV events it published most recently, so that a router that missed
// some (a gap in the event ids) can ask for exactly those instead of a full dump.
#pragma once

#include "dynamo/engine/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace dynamo::kv_router {

/// A bounded ring of the most recent events, in ascending id order. Not thread-safe: owned by
/// the worker that publishes the events and called from its thread only.
class event_history {
public:
  /// Keeps the newest `capacity` events; a capacity of 0 is taken as 1.
  explicit event_history(size_t capacity);

  /// Appends `ev`; once full, the oldest event drops out. Precondition: `ev.event_id` is greater
  /// than last_event_id() (on_internal_error otherwise: the engine broke its id order).
  void append(const engine::kv_event& ev);

  /// Id of the newest event appended; 0 before any event.
  uint64_t last_event_id() const noexcept { return last_id_; }

  /// Id of the newest event that dropped out; 0 while none has.
  uint64_t dropped_event_id() const noexcept { return dropped_id_; }

  /// Events kept right now.
  size_t size() const noexcept { return size_; }

  /// Most events kept.
  size_t capacity() const noexcept { return ring_.size(); }

  /// The events with id in (after, last_event_id()], oldest first (empty when `after` is the
  /// newest id), or nullopt when some of them already dropped out or `after` is newer than
  /// anything appended (the caller then needs a full dump).
  std::optional<std::vector<engine::kv_event>> since(uint64_t after) const;

private:
  const engine::kv_event& at(size_t i) const noexcept {
    return ring_[(head_ + i) % ring_.size()];
  }

  std::vector<engine::kv_event> ring_;
  size_t head_ = 0;  // index of the oldest event
  size_t size_ = 0;
  uint64_t last_id_ = 0;
  uint64_t dropped_id_ = 0;
};

} // namespace dynamo::kv_router
