// The proxy actor returned by connect(): speaks the remote handler's typed interface by handing
// every message to the plane's loop thread, and delivers the replies that come back.
#pragma once

#include "dynamo/loop/loop_bridge.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>

namespace dynamo::capnp::internal {

class rpc_client;

/// How long a proxy whose remote side is gone waits for its calls in flight to settle.
inline constexpr std::chrono::milliseconds lost_grace{1000};

/// Loop -> proxy: the outcome of call `id` (a caf::message reply or a caf::error).
using cp_reply_atom = caf::atom_constant<caf::atom("cp_reply")>;
/// Loop -> proxy: the remote handler or the connection is gone (a caf::error reason).
using cp_lost_atom = caf::atom_constant<caf::atom("cp_lost")>;

/// What every proxy of one plane shares.
struct proxy_link {
  std::shared_ptr<loop::loop_bridge> bridge;  ///< Onto the plane's loop thread.
  rpc_client* client = nullptr;               ///< Used only inside closures run on the loop.
};

/// State of one proxy: the response promises of its calls in flight.
struct proxy_state {
  std::map<uint64_t, caf::response_promise> pending;
  /// Set once the remote side is gone: new calls fail at once, the proxy ends when the calls
  /// in flight have settled.
  caf::error lost;
  uint64_t next_call = 1;
  static inline const char* name = "capnp_proxy";
};

/// The proxy of remote endpoint `proxy_id` (the loop's handle for its capability). When the
/// remote handler or the connection goes away it refuses new calls with `unavailable` (they
/// never left this process), lets the loop settle the calls in flight (`unavailable` for those
/// that produced nothing yet, `disconnected` for the others; bounded by lost_grace, after which
/// they fail with the loss reason) and then terminates with the loss reason.
caf::behavior proxy_actor(caf::stateful_actor<proxy_state>* self,
                          std::shared_ptr<const proxy_link> link, uint64_t proxy_id);

} // namespace dynamo::capnp::internal
