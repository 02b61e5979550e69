// Where an HTTP client connects: base URLs, name resolution and non-blocking TCP connects.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::workload {

/// An "http://host[:port][/prefix]" base URL. https is not supported.
struct http_url {
  std::string host;       ///< Name, IPv4 address or IPv6 address (without brackets).
  uint16_t port = 80;     ///< TCP port.
  std::string base_path;  ///< Path prefix without a trailing '/'; "" for the root.

  /// The Host header value: "host:port" (IPv6 in brackets). Any thread.
  std::string authority() const;

  /// "http://authority" + base_path. Any thread.
  std::string to_string() const;
};

/// Parses a base URL. Any thread. invalid_request for another scheme, an empty host, a bad or
/// zero port, user information, a query or fragment, spaces or control characters.
caf::expected<http_url> parse_url(std::string_view text);

/// One resolved socket address.
struct tcp_address {
  sockaddr_storage storage{};  ///< The address (IPv4 or IPv6).
  socklen_t length = 0;        ///< Bytes of `storage` in use.
};

/// Resolves the URL's host and port (blocking getaddrinfo). Any thread. unavailable when the
/// name does not resolve.
caf::expected<std::vector<tcp_address>> resolve(const http_url& url);

/// Opens a non-blocking, close-on-exec TCP socket with TCP_NODELAY and starts connecting it to
/// `address`. Returns the descriptor (owned by the caller) and sets `connected` when the
/// connect completed at once; returns -errno when it failed at once. Any thread.
int start_connect(const tcp_address& address, bool& connected);

/// Resolves `url` and opens (then closes) one TCP connection within `timeout`, trying each
/// address. Blocking; any thread. unavailable when the name does not resolve or no address
/// accepts a connection.
caf::error check_reachable(const http_url& url, std::chrono::milliseconds timeout);

} // namespace dynamo::workload
