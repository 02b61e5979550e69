// A relay on one request's token stream that tells the router when the first token passed:
// KV-aware routing counts a request's prompt as prefill load only until then. Everything the
// worker streams is forwarded unchanged, in order, to the caller's sink.
#pragma once

#include "dynamo/actors/messages.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace dynamo::actors {

/// Router message: request `id` streamed its first item.
using first_token_atom = caf::atom_constant<caf::atom("first_tok")>;
/// Tap message: the request settled at the router; quit (after whatever is already queued).
using tap_close_atom = caf::atom_constant<caf::atom("tap_close")>;

/// The tap's interface: a token sink plus close.
using first_token_tap_actor
  = token_sink_actor::extend<caf::reacts_to<tap_close_atom>>;

/// Spawns the tap of request `id`: forwards items, end and failure to `sink`; sends
/// (first_token_atom, id) to `router` with the first item; quits after end, failure or close.
first_token_tap_actor spawn_first_token_tap(caf::actor_system& sys, token_sink_actor sink,
                                            caf::actor router, request_id id);

} // namespace dynamo::actors
