// An asynchronous HTTP/1.1 client for many concurrent streamed responses on one thread:
// non-blocking sockets multiplexed by epoll, a pool of keep-alive connections to one server,
// responses decoded incrementally (Content-Length, chunked, until close) and text/event-stream
// bodies delivered event by event as they arrive.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/workload/http_parse.hpp"
#include "dynamo/workload/http_url.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace dynamo::workload {

/// The clock every time point of this module is taken from.
using stream_clock = std::chrono::steady_clock;

/// One request to send.
struct stream_request {
  std::string method = "POST";                    ///< Request method token.
  std::string target;                             ///< Path (and query), starting with '/'.
  std::string body;                               ///< Sent with Content-Length.
  std::string content_type = "application/json";  ///< Sent when the body is non-empty.
  http_headers headers;                           ///< Extra fields (no Host/Content-Length).
  std::chrono::milliseconds timeout{60000};       ///< Bound on the whole exchange from start()
                                                  ///< (at most 10^9 ms).
};

/// How an exchange ended.
struct stream_result {
  int status = 0;              ///< HTTP status; 0 when no response head arrived.
  std::string content_type;    ///< Content-Type of the response, "" when none.
  bool event_stream = false;   ///< The body was text/event-stream and was delivered as events.
  std::string body;            ///< A body that is not an event stream (its first bytes).
  bool body_truncated = false; ///< `body` holds only the first config::max_body_bytes.
  uint64_t events = 0;         ///< SSE events delivered through on_event.
  bool retried = false;        ///< Sent again on a fresh connection after a stale keep-alive one.
  caf::error error;            ///< Empty when the response was received completely; otherwise
                               ///< deadline_exceeded (timeout), disconnected (closed or reset),
                               ///< unavailable (connect failed), cancelled (cancel()),
                               ///< invalid_request (not HTTP, or a malformed event stream).
};

/// What the client reports about one exchange. Called on the thread inside run_once(), never
/// from start() or cancel(); callbacks may call start() and cancel().
struct stream_callbacks {
  /// The final response head arrived (optional).
  std::function<void(const response_head& head, stream_clock::time_point at)> on_head;
  /// One server-sent event's data arrived (text/event-stream responses of any status).
  std::function<void(std::string_view data, stream_clock::time_point at)> on_event;
  /// The exchange ended, successfully or not; called exactly once per started request unless
  /// the client is destroyed first. `at` is when the last bytes (or the failure) were seen.
  std::function<void(stream_result result, stream_clock::time_point at)> on_done;
};

/// Counters of a client's connection handling.
struct stream_client_stats {
  uint64_t requests = 0;             ///< Requests started.
  uint64_t connections_opened = 0;   ///< TCP connections attempted.
  uint64_t connections_reused = 0;   ///< Requests sent on a kept-alive connection.
  uint64_t retries = 0;              ///< Requests sent again after a stale kept-alive connection.
  uint64_t bytes_received = 0;       ///< Response bytes read.
};

/// A pool of HTTP/1.1 connections to one server, driven by run_once() on one thread (the loop
/// thread). At most `max_connections` requests are in flight, each on its own connection;
/// finished connections are kept alive and reused. A request whose kept-alive connection turns
/// out to be closed before any response byte arrived is sent once more on a fresh connection
/// (the usual keep-alive race; the server never saw it).
class stream_client {
public:
  /// Settings of a client.
  struct config {
    http_url url;                                ///< Server to talk to.
    size_t max_connections = 256;                ///< In-flight requests (and open connections).
    size_t max_body_bytes = 1024 * 1024;         ///< Kept of a non-event-stream body.
    size_t max_event_bytes = 16 * 1024 * 1024;   ///< Longest accepted SSE event.
    logger_ptr log;                              ///< Defaults to default_logger("http-stream").
  };

  /// Resolves the server's address and sets up epoll. Any thread; the client then belongs to
  /// the thread that calls run_once(). invalid_request for a bad config, unavailable when the
  /// name does not resolve or epoll cannot be created.
  static caf::expected<std::unique_ptr<stream_client>> make(config cfg);

  /// Closes every connection; callbacks of requests still in flight are not called.
  ~stream_client();

  stream_client(const stream_client&) = delete;
  stream_client& operator=(const stream_client&) = delete;

  /// Starts a request: sends it on an idle kept-alive connection or a new one. Returns its id
  /// (never 0). Loop thread. overloaded when max_connections requests are in flight,
  /// invalid_request for a malformed request. Failures after this point (including connect
  /// failures) arrive through on_done.
  caf::expected<uint64_t> start(stream_request req, stream_callbacks cb);

  /// Aborts request `id` (closing its connection); its on_done follows from run_once() with
  /// errc::cancelled. Unknown or finished ids are ignored. Loop thread.
  void cancel(uint64_t id);

  /// Waits up to `max_wait` for socket activity or wake(), handles it (callbacks run here) and
  /// fails requests whose timeout passed. Loop thread.
  void run_once(std::chrono::milliseconds max_wait);

  /// Makes a concurrent or later run_once() return promptly. Any thread; async-signal-safe.
  void wake() noexcept;

  /// Requests in flight (started, on_done not yet called). Loop thread.
  size_t in_flight() const noexcept;

  /// True when start() would accept a request now. Loop thread.
  bool has_capacity() const noexcept {
    return in_flight() < max_connections_;
  }

  /// Open TCP connections (busy and idle). Loop thread.
  size_t open_connections() const noexcept;

  /// Counters so far. Loop thread.
  stream_client_stats stats() const noexcept;

private:
  class impl;
  explicit stream_client(std::unique_ptr<impl> p);

  std::unique_ptr<impl> impl_;
  size_t max_connections_;
};

} // namespace dynamo::workload
