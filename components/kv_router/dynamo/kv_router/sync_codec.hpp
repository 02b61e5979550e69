// Router replica sync: replicas of a KV router share their route / first-token / finish events
// over the event plane, so that each tracks the load the others put on the workers.
//
// Wire format (JSON, version 1; integers are JSON numbers, exact up to 2^64 − 1):
//   {"v":1,"events":[
//     {"type":"route","router":"<hex id>","request":7,"worker":42,"prompt_hashes":[...],
//      "prompt_tokens":40,"prefill_tokens":8,"expected_output_tokens":64},
//     {"type":"prefill_done","router":"<hex id>","request":7},
//     {"type":"finish","router":"<hex id>","request":7}]}
// The route event's tracked_request id travels as "request". Decoding is strict on what it
// reads: a missing field, a wrong type, an out-of-range number, an unknown type or version, or
// prefill_tokens > prompt_tokens is rejected with invalid_request and a detail naming the event
// and field. Keys it does not know are ignored, so that later versions can add fields.
#pragma once

#include "dynamo/kv_router/active_load.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::kv_router {

/// One replica-sync event.
struct sync_event {
  /// What happened to the request.
  enum class kind : uint8_t {
    route,         ///< A router sent the request to a worker (carries `route`).
    prefill_done,  ///< The request produced its first token.
    finish,        ///< The request ended (finished, failed or cancelled).
  };
  kind type = kind::route;  ///< What happened.
  std::string router;     ///< The sending router's instance id (hex), to skip one's own.
  uint64_t request = 0;   ///< The request id.
  tracked_request route;  ///< route only (its id is `request` on the wire).
  bool operator==(const sync_event&) const = default;
};

/// "route", "prefill_done", "finish". Any thread.
std::string_view to_string(sync_event::kind k) noexcept;

/// Largest input decode_sync accepts, in bytes.
inline constexpr size_t max_sync_bytes = 64u << 20;

/// Encodes a batch as JSON (format above). Any thread; never fails (invalid UTF-8 in router ids
/// is replaced).
std::string encode_sync(const std::vector<sync_event>& batch);

/// Decodes encode_sync's output. Any thread. Errors: invalid_request with a detail naming the
/// problem (not JSON, wrong shape, version, type or field; larger than max_sync_bytes).
caf::expected<std::vector<sync_event>> decode_sync(std::string_view bytes);

} // namespace dynamo::kv_router
