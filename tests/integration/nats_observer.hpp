// How the process-level integration tests watch a cluster the way an operator would: their own
// discovery and event planes on the cluster's NATS server.
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/nats/discovery.hpp"
#include "dynamo/nats/events.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace dynamo::testing {

/// A test's own connections to a cluster's NATS server.
struct nats_observer {
  std::unique_ptr<discovery_plane> discovery;
  std::unique_ptr<event_plane> events;
};

/// Connects the discovery and event planes to `url`. Errors: those of the NATS backends.
inline caf::expected<nats_observer> observe_nats(const std::string& url) {
  nats::discovery_options dopts;
  dopts.connection.url = url;
  auto disc = nats::make_discovery(dopts);
  if (!disc)
    return std::move(disc.error());
  nats::event_options eopts;
  eopts.connection.url = url;
  auto events = nats::make_events(eopts);
  if (!events)
    return std::move(events.error());
  return nats_observer{std::move(*disc), std::move(*events)};
}

} // namespace dynamo::testing
