// The "kv" endpoint of workers: how a router that lost track of a worker's KV events (a gap in
// the event ids, a router that just started, a worker that just joined) gets them back.
#pragma once

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>

namespace dynamo::actors {

/// Asks a worker for KV events: (kv_query_atom, after_event_id, force_dump) -> kv_replay.
using kv_query_atom = caf::atom_constant<caf::atom("kv_query")>;

/// A worker's answer to a KV query.
struct kv_replay {
  bool full_dump = false;      ///< true: `batch` is the worker's whole state (clear first).
  uint64_t last_event_id = 0;  ///< Newest event id reflected (later events continue from it).
  std::string batch;           ///< kv_router::encode_batch of the events (ids as in the stream;
                               ///< a dump's events have id 0).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_replay& x) {
  return f(caf::meta::type_name("kv_replay"), x.full_dump, x.last_event_id, x.batch);
}

/// KV recovery: the events after `after_event_id` if the worker still has them all, else (or
/// when `force_dump`) a full dump of its prefix cache. Answered in the worker's own thread, so a
/// dump is consistent with its last_event_id. Errors: internal when the dump cannot be encoded.
using kv_query_actor = caf::typed_actor<
  caf::replies_to<kv_query_atom, uint64_t /*after_event_id*/, bool /*force_dump*/>::with<
    kv_replay>>;

/// Interface tag: the "kv" endpoint of workers.
struct kv_query_api {
  using handle_type = kv_query_actor;
  static constexpr const char* name = "kv";
};

} // namespace dynamo::actors
