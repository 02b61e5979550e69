// The client side of HTTP/1.1 on the wire: request serialization and incremental parsers for
// the response framing (status line, headers, Content-Length / chunked / until-close bodies) and
// server-sent events. The parsers accept their input split at any byte and never call back into
// their owner: they append their output to buffers the caller passes, so the caller decides
// when user code runs.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::workload {

/// Header fields in the order they were received.
using http_headers = std::vector<std::pair<std::string, std::string>>;

/// Serializes a request: request line, Host (`authority`), the given header fields, Content-Type
/// when the body is non-empty, Content-Length always, then the body. Any thread.
/// invalid_request for a method that is not a token, a target that is not a path without
/// spaces or control characters, or a header name/value that could split the head.
caf::expected<std::string> format_request(std::string_view method, std::string_view authority,
                                          std::string_view target, const http_headers& headers,
                                          std::string_view content_type, std::string_view body);

/// True when a Content-Type value names text/event-stream (case-insensitive, parameters
/// allowed). Any thread.
bool is_event_stream(std::string_view content_type) noexcept;

/// The status line and headers of a final (non-1xx) response.
struct response_head {
  int status = 0;         ///< 200..599.
  int minor_version = 1;  ///< 0 for HTTP/1.0, 1 for HTTP/1.1.
  std::string reason;     ///< e.g. "OK"; may be empty.
  http_headers headers;   ///< Header fields as received (names keep their case).

  /// Case-insensitive lookup of the first field named `name`; empty when absent. Any thread.
  std::string_view header(std::string_view name) const noexcept;
};

/// Parses one HTTP/1.x response to a request that expects a body (not HEAD). Interim 1xx
/// responses are skipped. Not thread-safe; one parser per response. Protocol violations are
/// reported as errc::invalid_request ("the server sent something that is not HTTP"), a
/// connection closed too early as errc::disconnected.
class response_parser {
public:
  /// Bounds applied to the parts a hostile or broken server could make unbounded.
  struct limits {
    size_t max_head_bytes = 64 * 1024;  ///< Status line plus headers of one response.
    size_t max_line_bytes = 8 * 1024;   ///< A chunk-size or trailer line.
  };

  /// A parser with default limits, waiting for the status line.
  response_parser() = default;

  /// A parser with the given limits, waiting for the status line.
  explicit response_parser(limits lim) : limits_(lim) {
  }

  /// Consumes bytes of the response: the head becomes available through head(), decoded body
  /// bytes (chunk framing removed) are appended to `body_out`. Returns how many bytes of
  /// `bytes` belong to this response: all of them until complete(), fewer when the response
  /// ended inside `bytes`. After an error the parser stays failed. Loop thread of the owner.
  caf::expected<size_t> feed(std::string_view bytes, std::string& body_out);

  /// Tells the parser the peer closed the connection: completes a body delimited by the close,
  /// else returns errc::disconnected. Loop thread of the owner.
  caf::error finish_eof();

  /// True once the final response head was parsed.
  bool has_head() const noexcept {
    return state_ != state::head;
  }

  /// The final response head; valid once has_head().
  const response_head& head() const noexcept {
    return head_;
  }

  /// True once the whole response (head and body) was received.
  bool complete() const noexcept {
    return state_ == state::complete;
  }

  /// True when the connection may carry another request after this response (HTTP/1.1 without
  /// "Connection: close", or HTTP/1.0 with keep-alive; never for a body ended by close).
  bool keep_alive() const noexcept {
    return keep_alive_;
  }

  /// Bytes of the response received so far (head and framed body).
  uint64_t bytes_seen() const noexcept {
    return bytes_seen_;
  }

private:
  enum class state : uint8_t { head, length_body, chunk_size, chunk_data, chunk_crlf, trailer,
                               close_body, complete, failed };

  caf::expected<size_t> feed_head(std::string_view bytes);
  caf::error parse_head(std::string_view text);
  caf::error start_body();
  caf::expected<size_t> feed_line(std::string_view bytes, bool& line_done);
  caf::error fail(std::string what);

  limits limits_;
  state state_ = state::head;
  response_head head_;
  std::string buf_;        // head or line being assembled
  uint64_t remaining_ = 0; // body bytes (length) or chunk bytes left
  uint64_t bytes_seen_ = 0;
  bool keep_alive_ = false;
};

/// Decodes a text/event-stream body as the WHATWG specification does: lines end in CR, LF or
/// CRLF; "data" fields of one event are joined with '\n'; an event is dispatched at a blank
/// line when it had at least one data field; comments and other fields are ignored; a leading
/// byte order mark is skipped. Not thread-safe.
class sse_decoder {
public:
  /// A decoder that refuses events (and lines) longer than `max_event_bytes`.
  explicit sse_decoder(size_t max_event_bytes = 16 * 1024 * 1024)
    : max_event_bytes_(max_event_bytes) {
  }

  /// Consumes body bytes and appends the data of every completed event to `events_out`.
  /// errc::invalid_request when an event or line exceeds the limit (the decoder then stays
  /// failed). Loop thread of the owner.
  caf::error feed(std::string_view bytes, std::vector<std::string>& events_out);

  /// True when bytes of an unfinished event are buffered (the stream ended mid-event).
  bool has_partial_event() const noexcept {
    return !line_.empty() || data_lines_ > 0;
  }

private:
  caf::error take_line(std::string_view line, std::vector<std::string>& events_out);

  size_t max_event_bytes_;
  std::string line_;
  std::string data_;
  size_t data_lines_ = 0;
  bool skip_lf_ = false;     // the previous byte was a CR ending a line
  bool first_line_ = true;   // a BOM may only precede the first line
  bool failed_ = false;
};

} // namespace dynamo::workload
