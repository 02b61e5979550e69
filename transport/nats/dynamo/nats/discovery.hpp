// NATS discovery backend: records in a JetStream key-value bucket, leases kept alive by
// heartbeat re-puts, liveness judged by every watcher itself (nats-server 2.9 sends no watch
// event when a key expires). See docs/design/nats.md.
#pragma once

#include "dynamo/nats/options.hpp"
#include "dynamo/plane/discovery.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace dynamo::nats {

/// Settings of a NATS discovery plane.
struct discovery_options {
  /// Server, timeouts, logger.
  connection_options connection;
  /// The JetStream KV bucket holding the records ([A-Za-z0-9_-]+). Created when missing.
  std::string bucket = "dynamo_discovery";
  /// The bucket's max age (server-side garbage collection of records nobody refreshes). Leases
  /// may not be longer. Only used when this plane creates the bucket.
  std::chrono::milliseconds bucket_ttl{60000};
  /// Memory instead of file storage for a bucket this plane creates (lost on server restart).
  bool memory_storage = false;
};

/// Connects to NATS, binds (or creates) the bucket and starts watching it. Errors: unavailable
/// when the server or JetStream cannot be reached; invalid_request for bad options. Any thread.
caf::expected<std::unique_ptr<discovery_plane>> make_discovery(discovery_options opts);

} // namespace dynamo::nats
