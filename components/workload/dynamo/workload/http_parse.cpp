#include "dynamo/workload/http_parse.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::workload {

namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower(x) == lower(y);
         });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

int hex_value(char c) noexcept {
  if (is_digit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// True when the comma-separated list `value` contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) noexcept {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token))
      return true;
    if (comma == std::string_view::npos)
      break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

/// The last element of a comma-separated list.
std::string_view last_token(std::string_view value) noexcept {
  auto comma = value.rfind(',');
  return trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

/// Parses a decimal Content-Length element; -1 when malformed or too large.
int64_t parse_length(std::string_view text) noexcept {
  text = trim(text);
  if (text.empty() || text.size() > 18)
    return -1;
  int64_t value = 0;
  for (char c : text) {
    if (!is_digit(c))
      return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c > 32 && c < 127 && std::string_view{"()<>@,;:\\\"/[]?={}"}.find(c)
                                  == std::string_view::npos;
  });
}

bool has_ctl(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 32 || c == 127;
  });
}

caf::error protocol(std::string what) {
  return make_error(errc::invalid_request, "malformed HTTP response: " + what);
}

} // namespace

caf::expected<std::string> format_request(std::string_view method, std::string_view authority,
                                          std::string_view target, const http_headers& headers,
                                          std::string_view content_type, std::string_view body) {
  auto bad = [](std::string what) { return make_error(errc::invalid_request, std::move(what)); };
  if (!is_token(method))
    return bad("bad request method");
  if (!target.starts_with('/') || has_ctl(target) || target.find(' ') != std::string_view::npos)
    return bad("the request target must be a path");
  if (has_ctl(authority) || has_ctl(content_type))
    return bad("bad host or content type");
  for (const auto& [name, value] : headers)
    if (!is_token(name) || has_ctl(value))
      return bad(fmt::format("bad header '{}'", name.substr(0, 80)));
  std::string w;
  w.reserve(body.size() + 256);
  auto out = std::back_inserter(w);
  fmt::format_to(out, "{} {} HTTP/1.1\r\nHost: {}\r\n", method, target, authority);
  for (const auto& [name, value] : headers)
    fmt::format_to(out, "{}: {}\r\n", name, value);
  if (!body.empty())
    fmt::format_to(out, "Content-Type: {}\r\n", content_type);
  fmt::format_to(out, "Content-Length: {}\r\n\r\n", body.size());
  w.append(body);
  return w;
}

bool is_event_stream(std::string_view content_type) noexcept {
  constexpr std::string_view type = "text/event-stream";
  auto media = trim(content_type.substr(0, content_type.find(';')));
  return iequals(media, type);
}

std::string_view response_head::header(std::string_view name) const noexcept {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return value;
  return {};
}

caf::error response_parser::fail(std::string what) {
  state_ = state::failed;
  buf_.clear();
  return protocol(std::move(what));
}

caf::expected<size_t> response_parser::feed(std::string_view bytes, std::string& body_out) {
  if (state_ == state::failed)
    return protocol("the parser already failed");
  size_t used = 0;
  while (used < bytes.size() && state_ != state::complete) {
    auto rest = bytes.substr(used);
    switch (state_) {
      case state::head: {
        auto n = feed_head(rest);
        if (!n)
          return std::move(n.error());
        used += *n;
        break;
      }
      case state::length_body:
      case state::chunk_data: {
        auto take = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        body_out.append(rest.data(), take);
        remaining_ -= take;
        used += take;
        if (remaining_ == 0)
          state_ = state_ == state::length_body ? state::complete : state::chunk_crlf;
        break;
      }
      case state::close_body:
        body_out.append(rest);
        used = bytes.size();
        break;
      case state::chunk_size:
      case state::chunk_crlf:
      case state::trailer: {
        bool line_done = false;
        auto n = feed_line(rest, line_done);
        if (!n)
          return std::move(n.error());
        used += *n;
        if (!line_done)
          break;
        if (state_ == state::chunk_crlf) {
          if (!buf_.empty())
            return fail("chunk data not followed by CRLF");
          state_ = state::chunk_size;
        } else if (state_ == state::trailer) {
          if (buf_.empty())
            state_ = state::complete;  // trailer fields are read and ignored
        } else {
          auto line = std::string_view{buf_};
          line = trim(line.substr(0, line.find(';')));
          if (line.empty() || line.size() > 15)
            return fail(fmt::format("bad chunk size line '{}'", buf_));
          uint64_t size = 0;
          for (char c : line) {
            auto v = hex_value(c);
            if (v < 0)
              return fail(fmt::format("bad chunk size line '{}'", buf_));
            size = size * 16 + static_cast<uint64_t>(v);
          }
          remaining_ = size;
          state_ = size == 0 ? state::trailer : state::chunk_data;
        }
        buf_.clear();
        break;
      }
      case state::complete:
      case state::failed:
        break;
    }
    if (state_ == state::failed)
      return protocol("the parser failed");
  }
  bytes_seen_ += used;
  return used;
}

caf::expected<size_t> response_parser::feed_line(std::string_view bytes, bool& line_done) {
  auto nl = bytes.find('\n');
  auto part = bytes.substr(0, nl);
  if (buf_.size() + part.size() > limits_.max_line_bytes)
    return fail("a chunk framing line is too long");
  buf_.append(part);
  if (nl == std::string_view::npos) {
    line_done = false;
    return bytes.size();
  }
  if (!buf_.empty() && buf_.back() == '\r')
    buf_.pop_back();
  line_done = true;
  return nl + 1;
}

caf::expected<size_t> response_parser::feed_head(std::string_view bytes) {
  auto old_size = buf_.size();
  buf_.append(bytes);
  // The head ends at the first empty line ("\r\n\r\n", leniently also "\n\n").
  size_t from = old_size >= 3 ? old_size - 3 : 0;
  size_t end = std::string::npos;
  for (auto nl = buf_.find('\n', from); nl != std::string::npos; nl = buf_.find('\n', nl + 1)) {
    if (nl + 1 < buf_.size() && buf_[nl + 1] == '\n') {
      end = nl + 2;
      break;
    }
    if (nl + 2 < buf_.size() && buf_[nl + 1] == '\r' && buf_[nl + 2] == '\n') {
      end = nl + 3;
      break;
    }
  }
  if (end == std::string::npos) {
    if (buf_.size() > limits_.max_head_bytes)
      return fail(fmt::format("the response head exceeds {} bytes", limits_.max_head_bytes));
    return bytes.size();
  }
  if (end > limits_.max_head_bytes)
    return fail(fmt::format("the response head exceeds {} bytes", limits_.max_head_bytes));
  auto consumed = end - old_size;
  auto text = std::string{buf_, 0, end};
  buf_.clear();
  if (auto err = parse_head(text))
    return err;
  return consumed;
}

caf::error response_parser::parse_head(std::string_view text) {
  response_head head;
  bool first = true;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (first) {
      first = false;
      // "HTTP/1.x SSS[ reason]"
      if (line.size() < 12 || !line.starts_with("HTTP/1.") || !is_digit(line[7])
          || line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11])
          || (line.size() > 12 && line[12] != ' '))
        return fail(fmt::format("bad status line '{}'", line.substr(0, 80)));
      head.minor_version = line[7] - '0';
      head.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
      if (head.status < 100 || head.status > 599)
        return fail(fmt::format("status {} out of range", head.status));
      head.reason = std::string{line.size() > 13 ? line.substr(13) : std::string_view{}};
      continue;
    }
    if (line.empty())
      break;
    if (line.front() == ' ' || line.front() == '\t')
      return fail("obsolete header line folding");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return fail(fmt::format("bad header line '{}'", line.substr(0, 80)));
    auto name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos)
      return fail(fmt::format("bad header name '{}'", name.substr(0, 80)));
    head.headers.emplace_back(std::string{name}, std::string{trim(line.substr(colon + 1))});
  }
  if (head.status >= 100 && head.status < 200) {
    if (head.status == 101)
      return fail("unexpected 101 Switching Protocols");
    return caf::none;  // interim response: the final head follows
  }
  head_ = std::move(head);
  return start_body();
}

caf::error response_parser::start_body() {
  auto connection = head_.header("connection");
  keep_alive_ = head_.minor_version >= 1 ? !has_token(connection, "close")
                                         : has_token(connection, "keep-alive");
  if (head_.status == 204 || head_.status == 304) {
    state_ = state::complete;
    return caf::none;
  }
  auto te = head_.header("transfer-encoding");
  bool has_length = false;
  int64_t length = -1;
  for (const auto& [key, value] : head_.headers) {
    if (!iequals(key, "content-length"))
      continue;
    std::string_view list = value;
    while (true) {
      auto comma = list.find(',');
      auto n = parse_length(list.substr(0, comma));
      if (n < 0 || (has_length && n != length))
        return fail(fmt::format("bad Content-Length '{}'", value));
      has_length = true;
      length = n;
      if (comma == std::string_view::npos)
        break;
      list.remove_prefix(comma + 1);
    }
  }
  if (!te.empty()) {
    // Transfer-Encoding overrides Content-Length; such a connection is not reused.
    if (has_length)
      keep_alive_ = false;
    if (iequals(last_token(te), "chunked")) {
      state_ = state::chunk_size;
    } else {
      state_ = state::close_body;
      keep_alive_ = false;
    }
    return caf::none;
  }
  if (has_length) {
    remaining_ = static_cast<uint64_t>(length);
    state_ = length == 0 ? state::complete : state::length_body;
    return caf::none;
  }
  state_ = state::close_body;
  keep_alive_ = false;
  return caf::none;
}

caf::error response_parser::finish_eof() {
  switch (state_) {
    case state::close_body:
      state_ = state::complete;
      return caf::none;
    case state::complete:
      return caf::none;
    case state::failed:
      return protocol("the parser already failed");
    case state::head:
      return make_error(errc::disconnected,
                        bytes_seen_ + buf_.size() == 0
                          ? "the server closed the connection without a response"
                          : "the server closed the connection inside the response head");
    default:
      return make_error(errc::disconnected,
                        "the server closed the connection before the response body was complete");
  }
}

caf::error sse_decoder::feed(std::string_view bytes, std::vector<std::string>& events_out) {
  if (failed_)
    return make_error(errc::invalid_request, "malformed event stream: the decoder already failed");
  size_t i = 0;
  while (i < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    auto end = bytes.find_first_of("\r\n", i);
    auto part = bytes.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    if (line_.size() + part.size() + data_.size() > max_event_bytes_) {
      failed_ = true;
      return make_error(errc::invalid_request,
                        fmt::format("malformed event stream: an event exceeds {} bytes",
                                    max_event_bytes_));
    }
    line_.append(part);
    if (end == std::string_view::npos)
      break;
    skip_lf_ = bytes[end] == '\r';
    i = end + 1;
    auto err = take_line(line_, events_out);
    line_.clear();
    if (err)
      return err;
  }
  return caf::none;
}

caf::error sse_decoder::take_line(std::string_view line, std::vector<std::string>& events_out) {
  if (first_line_) {
    first_line_ = false;
    if (line.starts_with("\xEF\xBB\xBF"))
      line.remove_prefix(3);
  }
  if (line.empty()) {
    if (data_lines_ > 0) {
      events_out.push_back(std::move(data_));
      data_.clear();
      data_lines_ = 0;
    }
    return caf::none;
  }
  if (line.front() == ':')
    return caf::none;  // comment (keep-alive pings)
  auto colon = line.find(':');
  auto field = line.substr(0, colon);
  auto value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  if (field == "data") {
    if (data_lines_ > 0)
      data_ += '\n';
    data_.append(value);
    ++data_lines_;
  }
  return caf::none;
}

} // namespace dynamo::workload
