// The streamed-response protocol shared by every endpoint that answers with a stream of items
// (tokens, events): the caller hands the callee a sink actor; the callee sends items, then
// exactly one end or failure. Cancellation travels the other way as a cancel message.
#pragma once

#include "dynamo/context.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>

namespace dynamo {

/// Sink message: one item of stream `request_id`.
using stream_item_atom = caf::atom_constant<caf::atom("s_item")>;
/// Sink message: stream `request_id` completed normally; no more messages follow.
using stream_end_atom = caf::atom_constant<caf::atom("s_end")>;
/// Sink message: stream `request_id` failed with a classified error; no more messages follow.
using stream_fail_atom = caf::atom_constant<caf::atom("s_fail")>;
/// Caller to callee: cancel request `request_id` (cancel_kind says stop-generating or kill).
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;

/// Request ids are unique per caller; together with the sink they identify a stream.
using request_id = uint64_t;

/// The receiving end of a stream of `Item`s. Items arrive in send order (CAF guarantees
/// ordering between one pair of actors); after end or fail nothing else arrives.
template <class Item>
using stream_sink_actor
  = caf::typed_actor<caf::reacts_to<stream_item_atom, request_id, Item>,
                     caf::reacts_to<stream_end_atom, request_id>,
                     caf::reacts_to<stream_fail_atom, request_id, caf::error>>;

/// What a streaming callee accepts for cancellation.
using cancellable_actor = caf::typed_actor<caf::reacts_to<cancel_atom, request_id, cancel_kind>>;

} // namespace dynamo
