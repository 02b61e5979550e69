// The HTTP/1.1 ingress: an asynchronous server (one event-loop thread, keep-alive) that hands
// each request to a handler together with a thread-safe response stream. The implementation
// (kj-http) is private to transport/; nothing here exposes a third-party header.
#pragma once

#include "dynamo/log.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::http {

/// Header list in arrival order; names as sent by the client.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// One parsed HTTP request with its complete body.
struct request {
  std::string method;   ///< "GET", "POST", ...
  std::string target;   ///< Path and query as sent, e.g. "/v1/models".
  header_list headers;
  std::string body;
  /// Case-insensitive header lookup; empty string when absent.
  std::string header(std::string_view name) const;
  /// The path part of target (without "?query").
  std::string path() const;
};

/// Where a handler writes its response. Every method is thread-safe and may be called from any
/// thread (typically an actor); calls are applied in order on the server's event loop.
/// Exactly one of respond() or start_stream() must be called; calls after the first
/// respond()/finish(), or after a disconnect, are ignored.
class response_stream {
public:
  virtual ~response_stream();

  /// Sends a complete response with Content-Length.
  virtual void respond(int status, std::string content_type, std::string body,
                       header_list extra_headers = {}) = 0;

  /// Starts a streamed response (chunked transfer encoding), e.g. for SSE.
  virtual void start_stream(int status, std::string content_type,
                            header_list extra_headers = {}) = 0;

  /// Appends a chunk to a started stream.
  virtual void write(std::string chunk) = 0;

  /// Ends a started stream.
  virtual void finish() = 0;

  /// Registers `callback`, run once (on the event-loop thread) if the client disconnects before
  /// the response completed (also when the server shuts down first, or the response can no
  /// longer be delivered). If that already happened, runs it at once on the calling thread; after
  /// the response completed, the callback is dropped.
  virtual void on_disconnect(std::function<void()> callback) = 0;

  /// True once the client is known to have disconnected.
  virtual bool disconnected() const = 0;
};

/// Called on the event-loop thread for every request; must not block (hand the work to an
/// actor). The handler owns its reference to the stream.
using handler = std::function<void(request, std::shared_ptr<response_stream>)>;

/// Server settings.
struct server_config {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;                      ///< 0 = pick a free port.
  size_t max_body_bytes = 4u << 20;          ///< Larger bodies get 413 without calling the handler.
  std::chrono::milliseconds header_timeout{15000};
  /// Where the server logs (component "http"); null means dynamo::default_logger("http").
  logger_ptr logger;
};

/// A running HTTP server. Destroying it stops the event loop and closes every connection.
class server {
public:
  virtual ~server();

  /// The bound port (useful with port 0).
  virtual uint16_t port() const = 0;

  /// Stops accepting new connections (the listening socket is closed, so new connects are
  /// refused); established ones keep being served. Any thread; returns once applied.
  virtual void stop_accepting() = 0;

  /// Number of requests whose response has not completed yet.
  virtual size_t active_requests() const = 0;

  /// Binds, starts the event-loop thread and serves until destroyed. Errors: unavailable when the
  /// address cannot be bound (with the OS reason as detail), invalid_request for a bad host.
  static caf::expected<std::unique_ptr<server>> start(server_config cfg, handler h);
};

} // namespace dynamo::http
