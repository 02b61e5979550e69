// Implementation detail of endpoint_host::relay(): the callee-side sink of a streamed call. A
// local relay actor receives the handler's stream messages into a bounded, merging queue; a pump
// on the loop thread sends them to the caller's sink capability as flow-controlled `-> stream`
// calls. Not for direct use.
#pragma once

#include "dynamo/capnp/streams.hpp"
#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"
#include "dynamo/loop/loop_bridge.hpp"
#include "dynamo/plane/stream.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <kj/async.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace dynamo::capnp::detail {

/// Items waiting for flow control, then the stream's ending. Shared by the relay actor (any
/// scheduler thread) and the pump (loop thread).
template <class Item>
class relay_queue {
public:
  relay_queue(size_t max_pending, std::function<bool(Item&, Item&)> merge)
    : max_pending_(max_pending), merge_(std::move(merge)) {
  }

  /// Called (outside the lock) when the pump waits and something arrived. Set before use.
  void set_waker(std::function<void()> waker) {
    waker_ = std::move(waker);
  }

  /// Queues or merges an item; false when the queue is full (the caller fails the stream).
  bool push(Item x) {
    bool wake = false;
    {
      std::lock_guard guard{mu_};
      if (ending_)
        return true;
      if (!items_.empty() && merge_ && merge_(items_.back(), x))
        return true;
      if (items_.size() >= max_pending_)
        return false;
      items_.push_back(std::move(x));
      wake = std::exchange(waiting_, false);
    }
    if (wake)
      waker_();
    return true;
  }

  /// Ends the stream after the queued items: `reason` empty for a normal end. First call wins.
  void close(caf::error reason) {
    bool wake = false;
    {
      std::lock_guard guard{mu_};
      if (ending_)
        return;
      ending_ = std::move(reason);
      wake = std::exchange(waiting_, false);
    }
    if (wake)
      waker_();
  }

  /// Takes the next item, or the ending once the items are gone. Returns false when there is
  /// nothing yet; the waker then runs on the next push() or close(). Pump only.
  bool take(std::optional<Item>& item, std::optional<caf::error>& ending) {
    std::lock_guard guard{mu_};
    if (!items_.empty()) {
      item = std::move(items_.front());
      items_.pop_front();
      return true;
    }
    if (ending_) {
      ending = *ending_;
      return true;
    }
    waiting_ = true;
    return false;
  }

private:
  const size_t max_pending_;
  std::function<bool(Item&, Item&)> merge_;
  std::function<void()> waker_;
  std::mutex mu_;
  std::deque<Item> items_;
  std::optional<caf::error> ending_;
  bool waiting_ = false;
};

/// The local sink handed to the handler. Watches the handler: its death fails the stream.
template <class Item>
typename stream_sink_actor<Item>::behavior_type
relay_actor(typename stream_sink_actor<Item>::pointer self,
            std::shared_ptr<relay_queue<Item>> queue, caf::actor handler, request_id rid) {
  self->monitor(handler);
  self->set_down_handler([self, queue](caf::down_msg& dm) {
    queue->close(make_error(errc::disconnected, "the endpoint's handler terminated mid-stream",
                            caf::to_string(dm.reason)));
    self->quit();
  });
  return {
    [self, queue, handler, rid](stream_item_atom, request_id, Item& x) {
      if (queue->push(std::move(x)))
        return;
      queue->close(make_error(errc::overloaded, "the caller reads the stream too slowly",
                              "relay queue full"));
      caf::anon_send(handler, cancel_atom::value, rid, cancel_kind::kill);
      self->quit();
    },
    [self, queue](stream_end_atom, request_id) {
      queue->close(caf::error{});
      self->quit();
    },
    [self, queue](stream_fail_atom, request_id, caf::error& err) {
      queue->close(err ? std::move(err)
                       : make_error(errc::internal, "the stream failed without a reason"));
      self->quit();
    },
  };
}

/// Sends queued items to the remote sink, one flow-controlled call at a time. Loop thread.
template <class Item, class SinkSchema>
class relay_pump {
public:
  relay_pump(std::shared_ptr<relay_queue<Item>> queue, typename SinkSchema::Client sink,
             std::shared_ptr<const sink_codec<Item, SinkSchema>> codec, caf::actor handler,
             request_id rid, stream_sink_actor<Item> relay)
    : queue_(std::move(queue)), sink_(std::move(sink)), codec_(std::move(codec)),
      handler_(std::move(handler)), rid_(rid), relay_(std::move(relay)) {
  }

  relay_pump(const relay_pump&) = delete;
  relay_pump& operator=(const relay_pump&) = delete;

  // Dropped before the stream reached the caller: the call was cancelled or its connection
  // went away, so the handler is told to stop and the relay goes.
  ~relay_pump() {
    if (finished_)
      return;
    queue_->close(make_error(errc::cancelled, "the caller went away"));
    caf::anon_send(handler_, cancel_atom::value, rid_, cancel_kind::kill);
    caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
  }

  /// Sends everything until the stream's ending was delivered.
  kj::Promise<void> run() {
    std::optional<Item> item;
    std::optional<caf::error> ending;
    if (!queue_->take(item, ending)) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      wake_ = kj::mv(paf.fulfiller);
      return paf.promise.then([this] { return run(); });
    }
    if (item) {
      auto req = sink_.itemRequest();
      codec_->encode(*item, req);
      return req.send().then([this] { return run(); });
    }
    if (!*ending)
      return sink_.endRequest().send().then([this](auto&&) { finished_ = true; });
    auto req = sink_.failRequest();
    encode_error(*ending, req.initError());
    return req.send().then([this](auto&&) { finished_ = true; });
  }

  /// Resumes a pump waiting for the queue.
  void wake() {
    if (wake_)
      std::exchange(wake_, nullptr)->fulfill();
  }

private:
  std::shared_ptr<relay_queue<Item>> queue_;
  typename SinkSchema::Client sink_;
  std::shared_ptr<const sink_codec<Item, SinkSchema>> codec_;
  caf::actor handler_;
  request_id rid_;
  stream_sink_actor<Item> relay_;
  kj::Own<kj::PromiseFulfiller<void>> wake_;
  bool finished_ = false;
};

/// A relayed stream: the local sink for the handler, and the promise of its delivery.
template <class Item>
struct relayed_stream {
  stream_sink_actor<Item> sink;  ///< Put this in the message for the handler.
  kj::Promise<void> done;        ///< Resolves once the ending reached the caller.
};

/// See endpoint_host::relay().
template <class Item, class SinkSchema>
relayed_stream<Item> relay(const caf::actor& handler,
                           const std::shared_ptr<loop::loop_bridge>& bridge, request_id rid,
                           typename SinkSchema::Client sink,
                           std::shared_ptr<const sink_codec<Item, SinkSchema>> codec) {
  auto queue = std::make_shared<relay_queue<Item>>(codec->max_pending, codec->merge);
  auto local = handler.home_system().spawn(relay_actor<Item>, queue, handler, rid);
  auto pump = std::make_shared<relay_pump<Item, SinkSchema>>(queue, std::move(sink),
                                                             std::move(codec), handler, rid, local);
  std::weak_ptr<relay_pump<Item, SinkSchema>> weak = pump;
  queue->set_waker([bridge, weak] {
    bridge->post([weak] {
      if (auto strong = weak.lock())
        strong->wake();
    });
  });
  auto done = pump->run().attach(kj::mv(pump));
  return {std::move(local), kj::mv(done)};
}

} // namespace dynamo::capnp::detail
