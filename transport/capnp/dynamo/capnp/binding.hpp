// Interface bindings: the extension point of the Cap'n Proto request plane that maps one typed
// CAF interface onto one Cap'n Proto interface. A binding converts messages to calls on the
// caller's side and calls back to messages on the callee's side; the plane supplies the rest
// (connections, the kj <-> CAF bridge, streams with flow control, cancellation, deadlines).
// Writing a binding means writing Cap'n Proto code, so this public header includes capnp and kj
// headers: the documented exception to "third-party headers only in .cpp/internal".
// See docs/design/capnp.md ("Writing a binding").
#pragma once

#include "dynamo/capnp/detail/ask.hpp"
#include "dynamo/capnp/detail/relay.hpp"
#include "dynamo/capnp/detail/sink_server.hpp"
#include "dynamo/capnp/rpc.capnp.h"
#include "dynamo/capnp/wire.hpp"
#include "dynamo/log.hpp"
#include "dynamo/loop/loop_bridge.hpp"
#include "dynamo/plane/stream.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <capnp/capability.h>
#include <kj/async.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace dynamo::capnp {

/// The callee's side of one served endpoint, handed to interface_binding::serve(). It owns a
/// strong handle to the handler for as long as a remote caller holds the endpoint capability.
/// Loop thread only (the plane's kj event-loop thread), unless a member says otherwise.
class endpoint_host {
public:
  /// Made by the plane for each resolved endpoint.
  endpoint_host(caf::actor handler, std::shared_ptr<loop::loop_bridge> bridge, logger_ptr log);

  /// The served actor. Any thread.
  const caf::actor& handler() const noexcept {
    return handler_;
  }

  /// The plane's logger. Any thread.
  const logger_ptr& log() const noexcept {
    return log_;
  }

  /// Sends `msg` to the handler as a one-way message (anonymous sender). Any thread.
  void tell(caf::message msg) const;

  /// Sends `msg` to the handler as a request and resolves with its reply (a single `Reply`
  /// value) or its error; `disconnected` when the handler terminates first. Dropping the promise
  /// (the remote caller cancelled the call or went away) sends cancel(`cancel_id`, kill) to the
  /// handler when `cancel_id` is set.
  template <class Reply>
  kj::Promise<caf::expected<Reply>> ask(caf::message msg,
                                        std::optional<request_id> cancel_id) const {
    return detail::ask<Reply>(handler_, bridge_, std::move(msg), cancel_id);
  }

  /// Relays stream `rid` to the remote `sink` capability: returns the local sink actor to put
  /// in the message for the handler, and a promise that resolves once the stream's end or
  /// failure reached the remote sink. Items wait for flow control; pending items are merged
  /// (codec.merge) or bounded (codec.max_pending, then the stream fails with `overloaded` and
  /// the handler gets cancel(kill)). The handler terminating fails the stream with
  /// `disconnected`. Dropping `done` before it resolved sends cancel(rid, kill) to the handler.
  template <class Item, class SinkSchema>
  detail::relayed_stream<Item>
  relay(request_id rid, typename SinkSchema::Client sink,
        std::shared_ptr<const sink_codec<Item, SinkSchema>> codec) const {
    return detail::relay<Item, SinkSchema>(handler_, bridge_, rid, std::move(sink),
                                           std::move(codec));
  }

  /// Resolves with the handler's exit reason when it terminates (used for the proxies'
  /// lifetime watch). Dropping the promise stops watching.
  kj::Promise<caf::error> lifetime() const;

private:
  caf::actor handler_;
  std::shared_ptr<loop::loop_bridge> bridge_;
  logger_ptr log_;
};

/// The caller's side of one message sent to a proxy, handed to interface_binding::call().
/// Loop thread only.
class outgoing_call {
public:
  /// Registers the caller's sink of stream `rid` and returns the capability to pass to the
  /// callee: item/end/fail calls arriving on it are decoded with `codec` and forwarded to
  /// `sink`. At most one sink per call. When the call fails (disconnect, deadline, error
  /// reply) before the stream ended, the plane sends stream_fail to `sink` itself, so the sink
  /// always hears exactly one end or failure. If `sink` terminates, the call is cancelled.
  template <class SinkSchema, class Item>
  typename SinkSchema::Client attach_sink(request_id rid, stream_sink_actor<Item> sink,
                                          std::shared_ptr<const sink_codec<Item, SinkSchema>> codec) {
    stream_ = std::make_shared<stream_state>(caf::actor_cast<caf::actor>(std::move(sink)), rid);
    return kj::heap<detail::sink_server<SinkSchema, Item>>(stream_, std::move(codec));
  }

  /// Sets the call's absolute deadline (wall clock, ms since the epoch; 0: none). When it
  /// passes, the plane fails the call and its stream with deadline_exceeded and cancels it
  /// remotely; a call already past its deadline is not sent at all.
  void set_deadline(int64_t deadline_unix_ms) noexcept {
    deadline_unix_ms_ = deadline_unix_ms;
  }

  /// The deadline set by the binding (0: none).
  int64_t deadline_unix_ms() const noexcept {
    return deadline_unix_ms_;
  }

  /// The stream registered by attach_sink(), or null.
  const std::shared_ptr<stream_state>& stream() const noexcept {
    return stream_;
  }

private:
  std::shared_ptr<stream_state> stream_;
  int64_t deadline_unix_ms_ = 0;
};

/// Maps one typed CAF interface onto one Cap'n Proto interface. Implementations are immutable
/// and shared by all endpoints and proxies that use them (both sides of a connection must use
/// bindings with the same interface_name()). Every member runs on the plane's loop thread and
/// must not block.
class interface_binding {
public:
  virtual ~interface_binding();

  /// Name and version of the Cap'n Proto interface ("dynamo.generate/1"). A proxy only binds to
  /// an endpoint whose binding has the same name (else connect() fails with invalid_request),
  /// so an incompatible schema change must change it.
  virtual std::string_view interface_name() const noexcept = 0;

  /// Callee side: the capability that serves `host`'s handler. Each incoming call converts its
  /// parameters (rejecting bad input with an invalid_request error result, never a crash), then
  /// uses host.tell()/ask()/relay(). Server methods should call allowCancellation() so that a
  /// caller's cancellation or disconnect reaches the handler as cancel(kill).
  virtual ::capnp::Capability::Client serve(std::shared_ptr<endpoint_host> host) const = 0;

  /// Caller side: performs `msg` (a message sent to a proxy) on `target`, the endpoint's
  /// capability. Resolves with the reply message for requests (an empty message for one-way
  /// messages) or a classified error; unknown messages resolve with invalid_request. Transport
  /// failures may also surface as a broken promise (classified by the plane).
  virtual kj::Promise<caf::expected<caf::message>>
  call(outgoing_call& call, ::capnp::Capability::Client target, caf::message msg) const = 0;
};

} // namespace dynamo::capnp
