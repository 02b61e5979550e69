// The two halves of a streamed call as bindings see them: how items are written, read and
// merged (sink_codec), and the caller's view of one stream (stream_state).
#pragma once

#include "dynamo/plane/stream.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>

#include <cstddef>
#include <functional>
#include <utility>

namespace dynamo::capnp {

/// How items of type `Item` travel through a sink interface `SinkSchema`: a Cap'n Proto
/// interface with `item @0 (...) -> stream; end @1 (); fail @2 (error :Rpc.Error);`.
template <class Item, class SinkSchema>
struct sink_codec {
  /// Writes `x` into the parameters of one item call. Callee side, loop thread.
  std::function<void(const Item& x, typename SinkSchema::ItemParams::Builder out)> encode;
  /// Reads one item; invalid_request on bad data (never throws). Caller side, loop thread.
  std::function<caf::expected<Item>(typename SinkSchema::ItemParams::Reader in)> decode;
  /// Optional: folds `next` into `pending` (an item still waiting for flow control) and returns
  /// true, or returns false when the two cannot merge. Any thread.
  std::function<bool(Item& pending, Item& next)> merge;
  /// Items that may wait for flow control when they cannot be merged; one more fails the
  /// stream with `overloaded`.
  size_t max_pending = 1024;
};

/// The caller's side of one stream: forwards to the caller's sink actor and guarantees that at
/// most one end or failure is delivered, after which nothing else is. Loop thread only.
class stream_state {
public:
  /// A stream `rid` delivered to `sink`.
  stream_state(caf::actor sink, request_id rid) : sink_(std::move(sink)), rid_(rid) {
  }

  /// The caller's sink.
  const caf::actor& sink() const noexcept {
    return sink_;
  }

  /// The stream's request id.
  request_id id() const noexcept {
    return rid_;
  }

  /// True until end() or fail().
  bool open() const noexcept {
    return open_;
  }

  /// Forwards one item while the stream is open.
  template <class Item>
  void item(Item&& x) {
    if (!open_)
      return;
    ++items_;
    caf::anon_send(caf::actor_cast<stream_sink_actor<std::decay_t<Item>>>(sink_),
                   stream_item_atom::value, rid_, std::forward<Item>(x));
  }

  /// Items forwarded so far.
  size_t items() const noexcept {
    return items_;
  }

  /// Delivers stream end and closes the stream; no-op when closed.
  void end();

  /// Delivers `err` as stream failure and closes the stream; no-op when closed.
  void fail(caf::error err);

  /// Closes the stream without telling the sink: the call's reply carries the failure, so the
  /// caller may retry elsewhere with the same sink.
  void abandon() noexcept {
    open_ = false;
  }

private:
  caf::actor sink_;
  request_id rid_;
  size_t items_ = 0;
  bool open_ = true;
};

} // namespace dynamo::capnp
