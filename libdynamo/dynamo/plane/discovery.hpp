// The discovery plane: which instances of which components exist right now, and how to reach
// them. Records live under leases; a record whose lease is revoked or expires disappears and
// every watcher is told. Backends: in-process (tests, single process), NATS KV (distributed).
#pragma once

#include "dynamo/ids.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

/// One registered instance of a component and the facts it publishes about itself.
struct discovery_record {
  component_id component;
  instance_id instance;
  /// Endpoints, addresses, capacity facts. Keys are non-empty; values are opaque.
  std::map<std::string, std::string> metadata;

  /// The record's key: "ns/component/<16 hex digits of instance>". Any thread.
  std::string key() const;

  friend bool operator==(const discovery_record&, const discovery_record&) = default;
};

/// A change seen by a watcher.
struct discovery_event {
  /// put: the record was added or changed; removed: it was revoked or expired.
  enum class kind : uint8_t { put, removed };
  kind type;
  /// For `removed`, the last known contents of the record.
  discovery_record record;
};

/// Identifies a lease granted by register_instance().
using lease_id = uint64_t;

/// Identifies a watch created by watch().
using watch_id = uint64_t;

/// How a registration is kept alive.
struct lease_options {
  /// Time after the last keep-alive at which the record expires. At least 100 ms.
  std::chrono::milliseconds ttl{5000};
  /// When true the backend keeps the lease alive until revoke(); otherwise the owner calls
  /// keep_alive() at least once per ttl.
  bool auto_keep_alive = true;
};

/// The smallest ttl a lease may have.
inline constexpr std::chrono::milliseconds min_lease_ttl{100};

/// Discovery backend. Thread-safe: any thread may call any member. Watch callbacks run on a
/// backend thread, never while a backend lock is held; the callbacks of one watch never run
/// concurrently. Must not be destroyed from inside one of its own callbacks.
class discovery_plane {
public:
  virtual ~discovery_plane();

  /// Backend name for logs ("inproc", "nats"). Any thread.
  virtual std::string name() const = 0;

  /// Registers (or replaces) the record under a new lease. With auto_keep_alive the backend
  /// heartbeats until revoke(); otherwise the owner must call keep_alive() within ttl or the
  /// record expires and watchers see `removed`. Replacing a record with the same key ends the
  /// previous lease silently (watchers see one `put`). Errors: invalid_request (bad names,
  /// instance 0, empty metadata key, ttl < 100ms); unavailable if the backend is unreachable.
  virtual caf::expected<lease_id> register_instance(discovery_record rec, lease_options opts) = 0;

  /// Restarts the lease's ttl. Errors: not_found once the lease expired or was revoked.
  virtual caf::error keep_alive(lease_id lease) = 0;

  /// Replaces the record's metadata; watchers see a `put`. Errors: not_found (lease gone),
  /// invalid_request (empty metadata key).
  virtual caf::error update(lease_id lease, std::map<std::string, std::string> metadata) = 0;

  /// Ends the lease; watchers see `removed` at once. Errors: not_found (lease gone).
  virtual caf::error revoke(lease_id lease) = 0;

  /// The records whose key starts with `key_prefix` ("" for all), sorted by key. Any thread.
  virtual std::vector<discovery_record> list(std::string_view key_prefix) const = 0;

  /// Watches keys with `key_prefix` ("ns/", "ns/component/"): first a put per existing record,
  /// then changes, serialized per watch, in order per key. Errors: invalid_request (empty cb).
  virtual caf::expected<watch_id> watch(std::string key_prefix,
                                        std::function<void(const discovery_event&)> cb)
    = 0;

  /// Stops a watch (no-op if unknown). When it returns no callback of the watch runs any more,
  /// unless it was called from inside that watch's callback (then none runs after that one).
  virtual void unwatch(watch_id id) = 0;
};

/// The key prefix of all instances of `component`: "ns/component/".
std::string discovery_prefix(const component_id& component);

/// Checks a record for register_instance(): valid names, non-zero instance, non-empty metadata
/// keys. Returns invalid_request describing the first problem. Shared by backends.
caf::error validate_record(const discovery_record& rec);

/// Checks a register_instance() call: validate_record() and a ttl of at least min_lease_ttl.
/// Returns invalid_request describing the first problem. Shared by backends.
caf::error validate_registration(const discovery_record& rec, const lease_options& opts);

} // namespace dynamo
