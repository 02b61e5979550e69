// Implementation detail of endpoint_host::ask(): a request to a handler from the loop thread,
// answered back onto the loop. Not for direct use.
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/loop/loop_bridge.hpp"
#include "dynamo/plane/stream.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <kj/async.h>

#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace dynamo::capnp::detail {

/// Holds the loop side of a cross-thread answer: the fulfiller, and whether it was settled.
/// Created and destroyed on the loop thread; other threads hold it weakly and post.
template <class T>
struct loop_slot {
  kj::Own<kj::PromiseFulfiller<T>> fulfiller;
  bool settled = false;

  /// Fulfils the promise once. Loop thread.
  void settle(T value) {
    if (settled)
      return;
    settled = true;
    fulfiller->fulfill(std::move(value));
  }
};

/// Posts `value` to `slot` on the loop thread (dropped if the slot is gone). Any thread.
template <class T>
void post_to_slot(loop::loop_bridge& bridge, std::weak_ptr<loop_slot<T>> slot, T value) {
  bridge.post([slot = std::move(slot), value = std::move(value)]() mutable {
    if (auto strong = slot.lock())
      strong->settle(std::move(value));
  });
}

/// A per-call actor: sends the request, watches the handler, reports exactly once to `done`.
template <class Reply>
caf::behavior asker(caf::event_based_actor* self, caf::actor handler, caf::message msg,
                    std::function<void(caf::expected<Reply>)> done) {
  self->monitor(handler);
  self->set_down_handler([self, done](caf::down_msg& dm) {
    done(make_error(errc::disconnected, "the endpoint's handler terminated before it answered",
                    caf::to_string(dm.reason)));
    self->quit();
  });
  self->request(handler, caf::infinite, std::move(msg))
    .then(
      [self, done](Reply& reply) {
        done(std::move(reply));
        self->quit();
      },
      [self, done](caf::error& err) {
        done(std::move(err));
        self->quit();
      });
  // The behavior only keeps the actor alive until the answer; cancel messages are ignored.
  return {[](cancel_atom, request_id, cancel_kind) {}};
}

/// See endpoint_host::ask().
template <class Reply>
kj::Promise<caf::expected<Reply>> ask(const caf::actor& handler,
                                      const std::shared_ptr<loop::loop_bridge>& bridge,
                                      caf::message msg, std::optional<request_id> cancel_id) {
  auto paf = kj::newPromiseAndFulfiller<caf::expected<Reply>>();
  auto slot = std::make_shared<loop_slot<caf::expected<Reply>>>();
  slot->fulfiller = kj::mv(paf.fulfiller);
  std::weak_ptr<loop_slot<caf::expected<Reply>>> weak = slot;
  std::function<void(caf::expected<Reply>)> done = [bridge, weak](caf::expected<Reply> r) {
    post_to_slot(*bridge, weak, std::move(r));
  };
  auto call = handler.home_system().spawn(asker<Reply>, handler, std::move(msg), std::move(done));
  auto guard = kj::defer([slot, call, handler, cancel_id] {
    if (slot->settled)
      return;
    if (cancel_id)
      caf::anon_send(handler, cancel_atom::value, *cancel_id, cancel_kind::kill);
    caf::anon_send_exit(call, caf::exit_reason::user_shutdown);
  });
  return paf.promise.attach(kj::mv(guard));
}

} // namespace dynamo::capnp::detail
