#include "dynamo/capnp/internal/proxy.hpp"

#include "dynamo/capnp/internal/client.hpp"
#include "dynamo/error.hpp"

#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_view.hpp>

#include <utility>

namespace dynamo::capnp::internal {

namespace {

using proxy_pointer = caf::stateful_actor<proxy_state>*;

void fail_all(proxy_pointer self, const caf::error& reason) {
  auto pending = std::move(self->state.pending);
  self->state.pending.clear();
  for (auto& [id, rp] : pending)
    rp.deliver(reason);
}

/// Delivers the outcome of call `id`; ends a lost proxy once nothing is in flight.
template <class T>
void deliver(proxy_pointer self, uint64_t id, T&& outcome) {
  auto it = self->state.pending.find(id);
  if (it == self->state.pending.end())
    return;
  auto rp = std::move(it->second);
  self->state.pending.erase(it);
  rp.deliver(std::forward<T>(outcome));
  if (self->state.lost && self->state.pending.empty())
    self->quit(self->state.lost);
}

} // namespace

caf::behavior proxy_actor(caf::stateful_actor<proxy_state>* self,
                          std::shared_ptr<const proxy_link> link, uint64_t proxy_id) {
  self->attach_functor([link, proxy_id] {
    link->bridge->post([client = link->client, proxy_id] { client->proxy_gone(proxy_id); });
  });
  // Every other message is a call for the remote handler.
  self->set_default_handler([self, link, proxy_id](caf::scheduled_actor*, caf::message_view& view)
                              -> caf::result<caf::message> {
    auto expects_reply = self->current_mailbox_element()->mid.is_request();
    if (self->state.lost) {
      if (!expects_reply)
        return caf::message{};
      return make_error(errc::unavailable, "the remote endpoint is gone",
                        operator_detail(self->state.lost));
    }
    auto msg = view.move_content_to_message();
    uint64_t id = 0;
    if (expects_reply) {
      id = self->state.next_call++;
      self->state.pending.emplace(id, self->make_response_promise());
    }
    auto posted = link->bridge->post(
      [client = link->client, proxy_id, id, expects_reply, proxy = caf::actor_cast<caf::actor>(self),
       msg = std::move(msg)]() mutable {
        client->call(proxy_id, proxy, id, expects_reply, std::move(msg));
      });
    if (!posted) {
      auto reason = make_error(errc::disconnected, "the request plane has shut down");
      fail_all(self, reason);
      self->quit(reason);
    }
    return caf::message{};
  });
  return {
    [self](cp_reply_atom, uint64_t id, caf::message& reply) {
      deliver(self, id, std::move(reply));
    },
    [self](cp_reply_atom, uint64_t id, caf::error& err) {
      deliver(self, id, std::move(err));
    },
    [self](cp_lost_atom, caf::error& reason) {
      if (!self->state.lost) {
        self->state.lost
          = reason ? reason : make_error(errc::disconnected, "the remote side is gone");
        if (!self->state.pending.empty()) {
          self->delayed_send(self, lost_grace, cp_lost_atom::value, std::move(reason));
          return;
        }
      }
      // Nothing in flight, or the grace period is over.
      fail_all(self, self->state.lost);
      self->quit(self->state.lost);
    },
  };
}

} // namespace dynamo::capnp::internal
