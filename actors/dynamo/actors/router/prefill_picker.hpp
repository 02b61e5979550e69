// The router's choice of a prefill worker for disaggregated serving: among the live prefill
// instances, the one with the fewest requests the router assigned to it and has not yet seen
// finish (ties: rotation). The router never talks to prefill workers itself; it only names one
// in every forwarded request, for the decode worker to call.
#pragma once

#include "dynamo/ids.hpp"
#include "dynamo/plane/stream.hpp"

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace dynamo::actors {

/// Live prefill instances and the requests assigned to them. Owned by one actor; not
/// thread-safe.
class prefill_picker {
public:
  /// One live prefill instance.
  struct instance_load {
    instance_id instance;
    uint32_t active = 0;    ///< Assigned requests not yet seen finish.
    uint64_t assigned = 0;  ///< Requests assigned since the instance joined.
  };

  /// An instance appeared (`up`) or vanished. A vanished instance is never picked again and
  /// its open assignments are forgotten; a repeated `up` keeps its counts.
  void apply(instance_id id, bool up);

  /// Assigns request `id` to the live instance with the fewest active requests (ties: the
  /// next in rotation) and returns it; nullopt when no instance is live. A request assigned
  /// before is first released (its new pick counts once).
  std::optional<instance_id> pick(request_id id);

  /// Request `id` finished: its instance's active count drops. False if it had no assignment
  /// (never picked, already finished, or its instance vanished).
  bool finish(request_id id);

  /// The live instances in arrival order.
  const std::vector<instance_load>& instances() const noexcept { return live_; }

  /// Open assignments (requests picked and not yet finished).
  size_t open() const noexcept { return assigned_.size(); }

  /// True without live instances.
  bool empty() const noexcept { return live_.empty(); }

private:
  instance_load* find(instance_id id);

  std::vector<instance_load> live_;
  std::unordered_map<request_id, instance_id> assigned_;
  size_t cursor_ = 0;  ///< Where the next tie-breaking scan starts.
};

} // namespace dynamo::actors
