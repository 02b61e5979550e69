#include "dynamo/http/internal/response_ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace dynamo::http::internal {

namespace {

constexpr std::array<std::pair<int, std::string_view>, 36> status_texts = {{
  {200, "OK"},
  {201, "Created"},
  {202, "Accepted"},
  {203, "Non-Authoritative Information"},
  {204, "No Content"},
  {205, "Reset Content"},
  {206, "Partial Content"},
  {300, "Multiple Choices"},
  {301, "Moved Permanently"},
  {302, "Found"},
  {303, "See Other"},
  {304, "Not Modified"},
  {307, "Temporary Redirect"},
  {308, "Permanent Redirect"},
  {400, "Bad Request"},
  {401, "Unauthorized"},
  {403, "Forbidden"},
  {404, "Not Found"},
  {405, "Method Not Allowed"},
  {406, "Not Acceptable"},
  {408, "Request Timeout"},
  {409, "Conflict"},
  {410, "Gone"},
  {411, "Length Required"},
  {413, "Payload Too Large"},
  {414, "URI Too Long"},
  {415, "Unsupported Media Type"},
  {422, "Unprocessable Entity"},
  {425, "Too Early"},
  {429, "Too Many Requests"},
  {500, "Internal Server Error"},
  {501, "Not Implemented"},
  {502, "Bad Gateway"},
  {503, "Service Unavailable"},
  {504, "Gateway Timeout"},
  {505, "HTTP Version Not Supported"},
}};

constexpr std::array<std::string_view, 7> connection_headers = {
  "connection", "content-length", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
};

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}


std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) noexcept {
  if (c >= 'a' && c <= 'z')
    return true;
  if (c >= 'A' && c <= 'Z')
    return true;
  if (c >= '0' && c <= '9')
    return true;
  return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else
          out += c;
    }
  }
  out += '"';
}

} // namespace

bool is_valid_status(int status) noexcept {
  return status >= 200 && status <= 599;
}

bool is_bodyless_status(int status) noexcept {
  return status == 204 || status == 205 || status == 304;
}

std::string_view status_text(int status) noexcept {
  for (const auto& [code, text] : status_texts)
    if (code == status)
      return text;
  return "Unknown";
}

bool is_valid_header_name(std::string_view name) noexcept {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_token_char);
}

bool is_valid_header_value(std::string_view value) noexcept {
  return value.find_first_of(std::string_view{"\r\n\0", 3}) == std::string_view::npos;
}

bool is_connection_header(std::string_view name) noexcept {
  return std::any_of(connection_headers.begin(), connection_headers.end(),
                     [name](std::string_view h) { return iequals(h, name); });
}

bool has_token(std::string_view value, std::string_view token) noexcept {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = trim(value.substr(0, comma));
    if (iequals(item, token))
      return true;
    if (comma == std::string_view::npos)
      break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool wants_close(const request& req, bool http10) {
  bool close = false;
  bool keep_alive = false;
  for (const auto& [name, value] : req.headers) {
    if (!iequals(name, "connection"))
      continue;
    close = close || has_token(value, "close");
    keep_alive = keep_alive || has_token(value, "keep-alive");
  }
  return close || (http10 && !keep_alive);
}

std::string error_body(std::string_view message, std::string_view type, std::string_view code) {
  std::string out = R"({"error":{"message":)";
  append_json_string(out, message);
  out += R"(,"type":)";
  append_json_string(out, type);
  out += R"(,"param":null,"code":)";
  append_json_string(out, code);
  out += "}}";
  return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return lower(x) == lower(y);
            });
}

} // namespace dynamo::http::internal
