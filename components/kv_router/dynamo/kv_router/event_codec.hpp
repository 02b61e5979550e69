// The wire format of KV events: one worker's batch of stored / removed / cleared events as JSON
// text, in the anchor system's RouterEvent shape (worker id, storage tier, events with their
// KvCacheEventData), plus the block size so that a router can reject a mismatch loudly. Workers
// publish batches on the event plane and answer KV queries with them; routers decode them from
// untrusted bytes.
//
// Shape (every number a non-negative JSON integer without fraction or exponent):
//
//   {
//     "worker_id": 1234,          u64: instance id of the publishing worker
//     "block_size": 16,           u32 >= 1: tokens per block of the worker's engine
//     "storage_tier": "device",   "device" | "host" | "disk" | "remote"
//     "events": [                 at most max_events_per_batch events
//       {"event_id": 7,           u64: either every id is 0 (a snapshot), or ids are >= 1
//                                 and strictly ascending
//        "data": {"stored": {"parent_hash": 5,     u64 or null/absent: the block before the
//                                                  first one (absent: they start a sequence)
//                            "blocks": [{"block_hash": 11,    u64: chained sequence hash
//                                        "tokens_hash": 3}]}}},   u64: local hash; present in
//                                                  every block of the event or in none
//       {"event_id": 8, "data": {"removed": {"block_hashes": [11, 12]}}},
//       {"event_id": 9, "data": "cleared"}
//     ]
//   }
//
// Other keys (e.g. the anchor's "dp_rank") are ignored, so that newer writers stay readable.
#pragma once

#include "dynamo/engine/types.hpp"
#include "dynamo/kv_router/storage_tier.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::kv_router {

/// Most events one batch may carry; decode_batch rejects more.
inline constexpr size_t max_events_per_batch = size_t{1} << 20;

/// A batch of one worker's KV events as published on the event plane and answered by the kv
/// endpoint.
struct event_batch {
  uint64_t worker = 0;                       ///< Instance id of the publishing worker.
  uint32_t block_size = 0;                   ///< Tokens per block of the worker's engine.
  storage_tier tier = storage_tier::device;  ///< Where these blocks live.
  std::vector<engine::kv_event> events;      ///< Ascending event ids (all 0 in a snapshot).
};

/// JSON text of the batch in the shape documented above. A stored event's token_hashes are
/// written when they parallel its block_hashes and left out otherwise. Any thread; never fails.
std::string encode_batch(const event_batch& b);

/// Strict decoding of untrusted bytes. Errors: invalid_request naming the field (not JSON, wrong
/// type, missing or duplicate, a number out of range, block_size 0, an unknown storage tier or
/// event kind, event ids neither all 0 nor strictly ascending from >= 1, a stored event whose
/// blocks carry tokens_hash only in part, more than `max_events` events). Any thread.
caf::expected<event_batch> decode_batch(std::string_view bytes,
                                        size_t max_events = max_events_per_batch);

} // namespace dynamo::kv_router
