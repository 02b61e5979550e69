// A small blocking HTTP/1.1 client on raw POSIX sockets for tests: one kept-alive connection,
// whole requests or incremental reading of a streamed body, and abrupt aborts. Every operation
// is bounded by a timeout; failures are returned as dynamo errors, never thrown.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::testing {

/// Headers in the order they were sent or received.
using http_headers = std::vector<std::pair<std::string, std::string>>;

/// One HTTP response.
struct http_response {
  int status = 0;       ///< e.g. 200
  std::string reason;   ///< e.g. "OK"
  http_headers headers;
  std::string body;     ///< Decoded body (chunk framing removed); empty from read_head().

  /// Case-insensitive header lookup; empty string when absent.
  std::string header(std::string_view name) const;
};

/// A blocking HTTP/1.1 client over one TCP connection. Not thread-safe: use one per thread.
/// Errors: deadline_exceeded when an operation exceeds the timeout, disconnected when the
/// server closed or reset the connection, unavailable when connecting fails, invalid_request
/// when the server sent something that is not HTTP or the call does not fit the state.
class http_client {
public:
  /// Timeout of each operation unless set_timeout() changes it.
  static constexpr std::chrono::milliseconds default_timeout{5000};

  /// Connects to host:port (numeric address or name) within `timeout`.
  static caf::expected<http_client> connect(const std::string& host, uint16_t port,
                                            std::chrono::milliseconds timeout = default_timeout);

  /// Takes over `other`'s connection and buffered state.
  http_client(http_client&& other) noexcept;
  /// Closes this connection, then takes over `other`'s.
  http_client& operator=(http_client&& other) noexcept;
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Closes the connection (gracefully) if still open.
  ~http_client();

  /// Sets the timeout applied to every later operation.
  void set_timeout(std::chrono::milliseconds timeout) noexcept {
    timeout_ = timeout;
  }

  /// Sends a request and reads the complete response (Content-Length, chunked, or until close)
  /// on the kept-alive connection.
  caf::expected<http_response> request(std::string_view method, std::string_view target,
                                       std::string_view body = {},
                                       const http_headers& headers = {});

  /// Streaming mode, step 1: sends a request. Adds Host, and Content-Length when there is a body
  /// (or the method is POST/PUT/PATCH) unless `headers` set Content-Length/Transfer-Encoding.
  caf::error send_request(std::string_view method, std::string_view target,
                          std::string_view body = {}, const http_headers& headers = {});

  /// Sends `bytes` unchanged (malformed requests, HTTP/1.0, pipelining). `method` tells the
  /// response reader whether a body follows (no body after HEAD).
  caf::error send_raw(std::string_view bytes, std::string_view method = "GET");

  /// Sends more bytes of a request already sent (a body after "100 Continue", a body in
  /// pieces); no additional response is expected.
  caf::error send_more(std::string_view bytes);

  /// Streaming mode, step 2: reads the status line and headers of the next response. Interim
  /// 1xx responses are skipped unless `skip_interim` is false, in which case one is returned
  /// like any other head (it has no body). The body of a final response is then read with
  /// read_some(), read_until() or read_body().
  caf::expected<http_response> read_head(bool skip_interim = true);

  /// Returns the body bytes that are available, waiting for at least one; an empty string
  /// once the body is complete.
  caf::expected<std::string> read_some();

  /// Reads until the body text not yet returned contains `needle`; returns that text up to and
  /// including the needle and keeps the rest for the next read. Fails if the body ends first.
  caf::expected<std::string> read_until(std::string_view needle);

  /// Reads and returns the rest of the body.
  caf::expected<std::string> read_body();

  /// True once the current response's body was received completely.
  bool body_complete() const noexcept {
    return body_done_;
  }

  /// Waits up to `timeout` for the server to close (or reset) the connection; bytes that
  /// arrive meanwhile are kept. True when it closed.
  bool wait_closed(std::chrono::milliseconds timeout);

  /// Closes the connection abruptly. With `reset` the socket lingers 0 seconds, so the server
  /// sees an RST; otherwise it sees a plain FIN.
  void abort(bool reset = true);

  /// True until abort() or the destructor closed the socket.
  bool is_open() const noexcept {
    return fd_ >= 0;
  }

private:
  enum class framing : uint8_t { none, length, chunked, until_close };
  enum class chunk_state : uint8_t { size_line, data, data_end, trailer };

  http_client(int fd, std::string host_header);

  caf::error send_all(std::string_view bytes);
  caf::expected<size_t> fill(std::chrono::steady_clock::time_point deadline, const char* what);
  caf::error decode();
  caf::error read_more_body(std::chrono::steady_clock::time_point deadline, const char* what);
  std::chrono::steady_clock::time_point deadline() const;

  int fd_ = -1;
  std::string host_header_;
  std::chrono::milliseconds timeout_ = default_timeout;
  std::string raw_;           // received, not yet parsed
  std::string decoded_;       // decoded body bytes not yet returned
  std::vector<std::string> pending_methods_;  // methods of requests awaiting a response
  std::string current_method_;
  framing framing_ = framing::none;
  chunk_state chunk_state_ = chunk_state::size_line;
  uint64_t remaining_ = 0;    // bytes left in the body (length) or the chunk (chunked)
  bool body_done_ = true;
  bool eof_ = false;
};

/// The payloads of the server-sent events in `body` ("data: x" lines; several data lines of
/// one event are joined with '\n'), in order. Events without data are skipped.
std::vector<std::string> parse_sse_data(std::string_view body);

} // namespace dynamo::testing
