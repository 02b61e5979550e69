// The operations a response_stream queues for the event loop, and the small HTTP vocabulary the
// server needs (status texts, header validation, JSON error bodies). No kj here.
#pragma once

#include "dynamo/http/server.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace dynamo::http::internal {

/// A complete response with Content-Length.
struct respond_op {
  int status = 200;
  std::string content_type;
  std::string body;
  header_list headers;
};

/// The head of a streamed (chunked) response.
struct start_op {
  int status = 200;
  std::string content_type;
  header_list headers;
};

/// One chunk of a streamed response.
struct write_op {
  std::string chunk;
};

/// The end of a streamed response.
struct finish_op {};

/// One queued response operation; a valid sequence is respond, or start write* finish.
using response_op = std::variant<respond_op, start_op, write_op, finish_op>;

/// ASCII case-insensitive equality (HTTP header names and tokens). Any thread.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// True for statuses a final response may carry (200..599).
bool is_valid_status(int status) noexcept;

/// True for statuses whose responses carry no body (204, 205, 304).
bool is_bodyless_status(int status) noexcept;

/// The reason phrase of `status` ("OK", "Not Found", ...); "Unknown" for unlisted codes.
std::string_view status_text(int status) noexcept;

/// True when `name` is a valid HTTP header name (an RFC 9110 token).
bool is_valid_header_name(std::string_view name) noexcept;

/// True when `value` is a valid header value (no CR, LF or NUL).
bool is_valid_header_value(std::string_view value) noexcept;

/// True for hop-by-hop headers the server manages itself (Connection, Content-Length,
/// Transfer-Encoding, Keep-Alive, TE, Trailer, Upgrade); handlers may not set them.
bool is_connection_header(std::string_view name) noexcept;

/// True when the comma-separated header `value` contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) noexcept;

/// True when the connection must close after responding to `req`: "Connection: close", or an
/// HTTP/1.0 request without "Connection: keep-alive".
bool wants_close(const request& req, bool http10);

/// An OpenAI-style JSON error body:
/// {"error":{"message":...,"type":...,"param":null,"code":...}}.
std::string error_body(std::string_view message, std::string_view type, std::string_view code);

} // namespace dynamo::http::internal
