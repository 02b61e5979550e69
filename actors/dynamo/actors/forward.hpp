// Forwarding a generate request downstream: the building block of every component that sits
// on a generate edge (routers, guardrails, loggers). Tokens flow from the target straight to the
// original sink; the forwarding component only sees the final reply.
#pragma once

#include "dynamo/actors/messages.hpp"

#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include <utility>

namespace dynamo::actors {

/// Sends `req` (with `sink`) to `target` and returns the promise that the calling handler
/// returns. When the target answers, `settle(id, err)` runs first (err is empty on success; the
/// callee may rewrite it, e.g. to add context), then the promise is delivered. Must be called
/// from inside a handler of `self` (an event-based actor).
template <class Self, class Settle>
caf::typed_response_promise<generate_summary>
forward_generate(Self* self, const generate_actor& target, generate_request req,
                 token_sink_actor sink, Settle settle) {
  auto id = req.id;
  auto promise = self->template make_response_promise<generate_summary>();
  self->request(target, caf::infinite, generate_atom::value, std::move(req), std::move(sink))
    .then(
      [promise, id, settle](generate_summary& summary) mutable {
        caf::error none;
        settle(id, none);
        promise.deliver(std::move(summary));
      },
      [promise, id, settle](caf::error& err) mutable {
        settle(id, err);
        promise.deliver(std::move(err));
      });
  return promise;
}

} // namespace dynamo::actors
