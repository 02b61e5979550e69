#include "dynamo/actors/router/first_token_tap.hpp"

#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace dynamo::actors {

namespace {

first_token_tap_actor::behavior_type tap_behavior(first_token_tap_actor::pointer self,
                                                  token_sink_actor sink, caf::actor router,
                                                  request_id id) {
  auto first = std::make_shared<bool>(true);
  return {
    [self, sink, router, id, first](stream_item_atom, request_id rid, token_chunk& chunk) {
      if (*first) {
        *first = false;
        caf::anon_send(router, first_token_atom::value, id);
      }
      self->send(sink, stream_item_atom::value, rid, std::move(chunk));
    },
    [self, sink](stream_end_atom, request_id rid) {
      self->send(sink, stream_end_atom::value, rid);
      self->quit();
    },
    [self, sink](stream_fail_atom, request_id rid, caf::error& err) {
      self->send(sink, stream_fail_atom::value, rid, std::move(err));
      self->quit();
    },
    [self](tap_close_atom) { self->quit(); },
  };
}

} // namespace

first_token_tap_actor spawn_first_token_tap(caf::actor_system& sys, token_sink_actor sink,
                                            caf::actor router, request_id id) {
  return sys.spawn(tap_behavior, std::move(sink), std::move(router), id);
}

} // namespace dynamo::actors
