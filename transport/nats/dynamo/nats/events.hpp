// NATS event backend: subjects map 1:1 to NATS subjects; every message carries its publisher id
// and sequence number in NATS headers; subscriber queues are bounded by the client's pending
// limits, and what they drop is counted. See docs/design/nats.md.
#pragma once

#include "dynamo/nats/options.hpp"
#include "dynamo/plane/event.hpp"

#include <caf/expected.hpp>

#include <memory>

namespace dynamo::nats {

/// Header carrying the publisher id of a message.
inline constexpr const char* publisher_header = "Dynamo-Publisher";

/// Header carrying the per-publisher sequence number (decimal) of a message.
inline constexpr const char* sequence_header = "Dynamo-Sequence";

/// Settings of a NATS event plane.
struct event_options {
  /// Server, timeouts, logger.
  connection_options connection;
};

/// Connects to NATS. Publishes are buffered by the client and flushed in batches by its
/// flusher thread (bulk throughput over per-message latency). Errors: unavailable when the
/// server cannot be reached; invalid_request for a malformed URL. Any thread.
caf::expected<std::unique_ptr<event_plane>> make_events(event_options opts);

} // namespace dynamo::nats
