// Cap'n Proto request backend: one RPC server per process hosts every endpoint served through
// the plane; connect() returns a proxy actor with the handler's typed interface. Which schema an
// endpoint speaks is chosen by its endpoint name through interface bindings. See
// docs/design/capnp.md.
#pragma once

#include "dynamo/capnp/binding.hpp"
#include "dynamo/log.hpp"
#include "dynamo/plane/request.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace dynamo::capnp {

/// Finds the "host:port" of the process serving `address`. Errors: not_found when no such
/// instance is known. Called on the caller's thread inside connect().
using address_resolver = std::function<caf::expected<std::string>(const instance_endpoint&)>;

/// Settings of a Cap'n Proto request plane.
struct request_options {
  /// Where the process's RPC server listens ("host:port"; port 0 picks a free one).
  std::string listen = "127.0.0.1:0";
  /// What others dial (published by advertised_address()); empty: the bound address.
  std::string advertise;
  /// Maps a remote instance to its process's address (usually a discovery lookup).
  address_resolver resolve;
  /// Interface bindings by endpoint name ("generate" -> the generate binding).
  std::map<std::string, std::shared_ptr<const interface_binding>> bindings;
  /// Bound on establishing a connection.
  std::chrono::milliseconds connect_timeout{2000};
  /// Logger of the plane; empty for default_logger("requests").
  logger_ptr log;
};

/// Starts the RPC server (its own kj event-loop thread) and returns the plane. Errors:
/// invalid_request for a malformed listen address or an empty binding; unavailable when the
/// address cannot be bound. Any thread.
caf::expected<std::unique_ptr<request_plane>> make_requests(caf::actor_system& sys,
                                                            request_options opts);

} // namespace dynamo::capnp
