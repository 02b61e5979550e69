// Opening the server's listening socket: name resolution, bind and listen with errors that say
// what went wrong. No kj here; the event loop wraps the descriptor afterwards.
#pragma once

#include "dynamo/loop/unique_fd.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace dynamo::http::internal {

/// A listening, non-blocking, close-on-exec TCP socket and the port it is bound to.
struct listen_socket {
  loop::unique_fd fd;
  uint16_t port = 0;
};

/// Resolves `host` (numeric address or name) and listens on the first address that binds, with
/// SO_REUSEADDR. Port 0 picks a free port. Any thread; blocks during name resolution.
/// Errors: invalid_request for an empty or unresolvable host; unavailable when no address can be
/// bound or listened on (the OS reason, e.g. "Address already in use", is in the detail).
caf::expected<listen_socket> open_listen_socket(const std::string& host, uint16_t port);

} // namespace dynamo::http::internal
