// The request plane: makes endpoint handlers (typed actors) reachable under an address and
// resolves addresses back to handles with the same typed interface. In-process the handle is
// the actor itself; a network backend returns a proxy actor (location transparency).
#pragma once

#include "dynamo/ids.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace dynamo {

/// Request-plane backend. Thread-safe: any thread or actor may call any member.
class request_plane {
public:
  virtual ~request_plane();

  /// Backend name for logs ("inproc", "capnp").
  virtual std::string name() const = 0;

  /// Makes `handler` reachable at `address`. The registration ends on withdraw() or when the
  /// actor terminates. Errors: invalid_request if `address` is already served by a live actor
  /// or `handler` is invalid.
  virtual caf::error serve(const instance_endpoint& address, caf::actor handler) = 0;

  /// Removes the registration of `address` (no-op if absent).
  virtual void withdraw(const instance_endpoint& address) = 0;

  /// Resolves `address` to a handle that speaks the handler's typed interface.
  /// Errors: not_found if nothing is served there; unavailable if the backend cannot reach it.
  virtual caf::expected<caf::actor> connect(const instance_endpoint& address) = 0;

  /// Addresses served through this plane object (for diagnostics and tests).
  virtual std::vector<instance_endpoint> served() const = 0;

  /// Where remote callers reach the endpoints served here ("host:port"), published in every
  /// replica's discovery record; empty for an in-process plane. Any thread.
  virtual std::string advertised_address() const { return {}; }

  /// Stops network activity: refuses new calls, fails calls in flight with `disconnected` and
  /// releases every actor the plane holds, so that the actor system can shut down. Called by
  /// the runtime before it waits for its actors; idempotent. Any thread except a plane thread.
  virtual void shutdown() {}
};

/// Checks an address for serve()/connect(): valid names and a non-zero instance.
/// Returns invalid_request describing the problem. Shared by backends.
caf::error validate_address(const instance_endpoint& address);

/// Checks a serve() call: a valid address (validate_address) and a live `handler` of `sys`.
/// Returns invalid_request describing the problem. Shared by backends.
caf::error validate_serve(const instance_endpoint& address, const caf::actor& handler,
                          const caf::actor_system& sys);

/// connect() plus a cast to the typed handle `Handle` (the caller asserts the interface).
template <class Handle>
caf::expected<Handle> connect_as(request_plane& plane, const instance_endpoint& address) {
  auto hdl = plane.connect(address);
  if (!hdl)
    return std::move(hdl.error());
  return caf::actor_cast<Handle>(std::move(*hdl));
}

} // namespace dynamo
