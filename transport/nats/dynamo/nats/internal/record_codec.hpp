// Private to the nats module: the value stored per discovery record, and the mapping of record
// keys ("ns/component/instance") to NATS KV keys ("ns.component.instance").
#pragma once

#include "dynamo/plane/discovery.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo::nats::detail {

/// What a KV value carries besides the record: the lease's ttl (watchers expire the record
/// when no put arrives within it), the lease tag (owner token + lease id, tells a replacement
/// from a heartbeat) and a heartbeat counter.
struct stored_record {
  discovery_record record;
  std::chrono::milliseconds ttl{0};
  std::string lease_tag;
  uint64_t beat = 0;
};

/// JSON encoding of a stored record. Any thread.
std::string encode_record(const stored_record& x);

/// Decodes and validates bytes read from the network. Errors: invalid_request naming the
/// problem (not JSON, missing or mistyped field, invalid record, ttl below 100 ms). Any thread.
caf::expected<stored_record> decode_record(std::string_view bytes);

/// "ns/component/instance" -> "ns.component.instance". Any thread.
std::string to_kv_key(std::string_view record_key);

/// "ns.component.instance" -> "ns/component/instance". Any thread.
std::string from_kv_key(std::string_view kv_key);

} // namespace dynamo::nats::detail
