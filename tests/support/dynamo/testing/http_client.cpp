#include "dynamo/testing/http_client.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace dynamo::testing {

namespace {

using clock_type = std::chrono::steady_clock;

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
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

int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

caf::error timed_out(const char* what) {
  return make_error(errc::deadline_exceeded,
                    fmt::format("http_client: timed out waiting for {}", what));
}

caf::error protocol_error(std::string what) {
  return make_error(errc::invalid_request, "http_client: " + what);
}

struct addrinfo_deleter {
  void operator()(addrinfo* list) const noexcept {
    ::freeaddrinfo(list);
  }
};

caf::expected<int> connect_one(const addrinfo* ai, clock_type::time_point deadline) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0)
    return make_error(errc::unavailable, "http_client: socket() failed", std::strerror(errno));
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
    int err = errno;
    ::close(fd);
    return make_error(errc::unavailable, "http_client: connect failed", std::strerror(err));
  }
  pollfd p{fd, POLLOUT, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, remaining_ms(deadline));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    ::close(fd);
    return timed_out("the connection to be established");
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (rc < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return make_error(errc::unavailable, "http_client: connect failed",
                      std::strerror(err != 0 ? err : errno));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool has_no_body(std::string_view method, int status) {
  return method == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200);
}

} // namespace

std::string http_response::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return value;
  return {};
}

caf::expected<http_client> http_client::connect(const std::string& host, uint16_t port,
                                                std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw); rc != 0)
    return make_error(errc::invalid_request, "http_client: cannot resolve " + host,
                      ::gai_strerror(rc));
  std::unique_ptr<addrinfo, addrinfo_deleter> list{raw};
  caf::error last = make_error(errc::unavailable, "http_client: no address to connect to");
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    auto fd = connect_one(ai, deadline);
    if (fd) {
      http_client client{*fd, fmt::format("{}:{}", host, port)};
      client.set_timeout(timeout);
      return client;
    }
    last = std::move(fd.error());
  }
  return last;
}

http_client::http_client(int fd, std::string host_header)
  : fd_(fd), host_header_(std::move(host_header)) {
}

http_client::http_client(http_client&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)),
    host_header_(std::move(other.host_header_)),
    timeout_(other.timeout_),
    raw_(std::move(other.raw_)),
    decoded_(std::move(other.decoded_)),
    pending_methods_(std::move(other.pending_methods_)),
    current_method_(std::move(other.current_method_)),
    framing_(other.framing_),
    chunk_state_(other.chunk_state_),
    remaining_(other.remaining_),
    body_done_(other.body_done_),
    eof_(other.eof_) {
}

http_client& http_client::operator=(http_client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    host_header_ = std::move(other.host_header_);
    timeout_ = other.timeout_;
    raw_ = std::move(other.raw_);
    decoded_ = std::move(other.decoded_);
    pending_methods_ = std::move(other.pending_methods_);
    current_method_ = std::move(other.current_method_);
    framing_ = other.framing_;
    chunk_state_ = other.chunk_state_;
    remaining_ = other.remaining_;
    body_done_ = other.body_done_;
    eof_ = other.eof_;
  }
  return *this;
}

http_client::~http_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

clock_type::time_point http_client::deadline() const {
  return clock_type::now() + timeout_;
}

caf::expected<http_response> http_client::request(std::string_view method,
                                                  std::string_view target, std::string_view body,
                                                  const http_headers& headers) {
  if (auto err = send_request(method, target, body, headers))
    return err;
  auto head = read_head();
  if (!head)
    return std::move(head.error());
  auto rest = read_body();
  if (!rest)
    return std::move(rest.error());
  head->body = std::move(*rest);
  return head;
}

caf::error http_client::send_request(std::string_view method, std::string_view target,
                                     std::string_view body, const http_headers& headers) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", method, target, host_header_);
  bool framed = false;
  for (const auto& [name, value] : headers) {
    framed = framed || iequals(name, "content-length") || iequals(name, "transfer-encoding");
    out += fmt::format("{}: {}\r\n", name, value);
  }
  if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH"))
    out += fmt::format("Content-Length: {}\r\n", body.size());
  out += "\r\n";
  out += body;
  return send_raw(out, method);
}

caf::error http_client::send_raw(std::string_view bytes, std::string_view method) {
  if (fd_ < 0)
    return protocol_error("the connection is closed");
  pending_methods_.emplace_back(method);
  return send_all(bytes);
}

caf::error http_client::send_more(std::string_view bytes) {
  if (fd_ < 0)
    return protocol_error("the connection is closed");
  return send_all(bytes);
}

caf::error http_client::send_all(std::string_view bytes) {
  auto until = deadline();
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int rc = ::poll(&p, 1, remaining_ms(until));
      if (rc == 0)
        return timed_out("the socket to accept the request");
      continue;
    }
    return make_error(errc::disconnected, "http_client: send failed", std::strerror(errno));
  }
  return {};
}

caf::expected<size_t> http_client::fill(clock_type::time_point until, const char* what) {
  if (fd_ < 0)
    return protocol_error("the connection is closed");
  if (eof_)
    return size_t{0};
  char buf[16 * 1024];
  for (;;) {
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      raw_.append(buf, static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
    if (n == 0) {
      eof_ = true;
      return size_t{0};
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return make_error(errc::disconnected, "http_client: the connection failed",
                        std::strerror(errno));
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, remaining_ms(until));
    if (rc == 0)
      return timed_out(what);
  }
}

caf::expected<http_response> http_client::read_head(bool skip_interim) {
  if (!body_done_)
    return protocol_error("read_head() called before the previous body was read");
  auto until = deadline();
  for (;;) {
    auto end = raw_.find("\r\n\r\n");
    while (end == std::string::npos) {
      auto n = fill(until, "response headers");
      if (!n)
        return std::move(n.error());
      if (*n == 0)
        return make_error(errc::disconnected,
                          "http_client: the server closed the connection before a response");
      end = raw_.find("\r\n\r\n");
    }
    std::string_view head{raw_.data(), end};
    http_response resp;
    auto line_end = head.find("\r\n");
    auto status_line = head.substr(0, line_end);
    if (status_line.substr(0, 5) != "HTTP/")
      return protocol_error(fmt::format("not an HTTP status line: '{}'", status_line));
    auto sp1 = status_line.find(' ');
    if (sp1 == std::string_view::npos)
      return protocol_error(fmt::format("malformed status line: '{}'", status_line));
    auto code_text = status_line.substr(sp1 + 1, 3);
    if (std::from_chars(code_text.data(), code_text.data() + code_text.size(), resp.status).ec
        != std::errc{})
      return protocol_error(fmt::format("malformed status code: '{}'", status_line));
    if (status_line.size() > sp1 + 5)
      resp.reason = std::string{status_line.substr(sp1 + 5)};
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      auto line = head.substr(0, line_end);
      auto colon = line.find(':');
      if (colon == std::string_view::npos)
        return protocol_error(fmt::format("malformed header line: '{}'", line));
      resp.headers.emplace_back(std::string{line.substr(0, colon)},
                                std::string{trim(line.substr(colon + 1))});
    }
    raw_.erase(0, end + 4);
    if (resp.status >= 100 && resp.status < 200) {
      if (skip_interim)
        continue;
      return resp;
    }
    current_method_ = pending_methods_.empty() ? std::string{"GET"} : pending_methods_.front();
    if (!pending_methods_.empty())
      pending_methods_.erase(pending_methods_.begin());
    decoded_.clear();
    body_done_ = false;
    if (has_no_body(current_method_, resp.status)) {
      framing_ = framing::none;
      body_done_ = true;
    } else if (iequals(resp.header("transfer-encoding"), "chunked")) {
      framing_ = framing::chunked;
      chunk_state_ = chunk_state::size_line;
    } else if (auto length = resp.header("content-length"); !length.empty()) {
      framing_ = framing::length;
      if (std::from_chars(length.data(), length.data() + length.size(), remaining_).ec
          != std::errc{})
        return protocol_error("malformed Content-Length: " + length);
      body_done_ = remaining_ == 0;
    } else {
      framing_ = framing::until_close;
    }
    return resp;
  }
}

caf::error http_client::decode() {
  switch (framing_) {
    case framing::none:
      return {};
    case framing::until_close:
      decoded_ += raw_;
      raw_.clear();
      body_done_ = eof_;
      return {};
    case framing::length: {
      auto n = std::min<uint64_t>(remaining_, raw_.size());
      decoded_.append(raw_, 0, n);
      raw_.erase(0, n);
      remaining_ -= n;
      body_done_ = remaining_ == 0;
      return {};
    }
    case framing::chunked:
      break;
  }
  for (;;) {
    switch (chunk_state_) {
      case chunk_state::size_line: {
        auto eol = raw_.find("\r\n");
        if (eol == std::string::npos)
          return {};
        std::string_view line{raw_.data(), eol};
        line = line.substr(0, line.find(';'));
        line = trim(line);
        uint64_t size = 0;
        auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (ec != std::errc{} || ptr != line.data() + line.size())
          return protocol_error(fmt::format("malformed chunk size line: '{}'", line));
        raw_.erase(0, eol + 2);
        remaining_ = size;
        chunk_state_ = size == 0 ? chunk_state::trailer : chunk_state::data;
        break;
      }
      case chunk_state::data: {
        auto n = std::min<uint64_t>(remaining_, raw_.size());
        decoded_.append(raw_, 0, n);
        raw_.erase(0, n);
        remaining_ -= n;
        if (remaining_ > 0)
          return {};
        chunk_state_ = chunk_state::data_end;
        break;
      }
      case chunk_state::data_end:
        if (raw_.size() < 2)
          return {};
        if (raw_.compare(0, 2, "\r\n") != 0)
          return protocol_error("chunk data not followed by CRLF");
        raw_.erase(0, 2);
        chunk_state_ = chunk_state::size_line;
        break;
      case chunk_state::trailer: {
        auto eol = raw_.find("\r\n");
        if (eol == std::string::npos)
          return {};
        raw_.erase(0, eol + 2);
        if (eol == 0) {
          body_done_ = true;
          return {};
        }
        break;
      }
    }
  }
}

caf::error http_client::read_more_body(clock_type::time_point until, const char* what) {
  auto n = fill(until, what);
  if (!n)
    return std::move(n.error());
  if (*n == 0 && framing_ != framing::until_close)
    return make_error(errc::disconnected,
                      "http_client: the server closed the connection in the middle of a body");
  return decode();
}

caf::expected<std::string> http_client::read_some() {
  if (auto err = decode())
    return err;
  auto until = deadline();
  while (decoded_.empty() && !body_done_)
    if (auto err = read_more_body(until, "body bytes"))
      return err;
  return std::exchange(decoded_, std::string{});
}

caf::expected<std::string> http_client::read_until(std::string_view needle) {
  if (auto err = decode())
    return err;
  auto until = deadline();
  for (;;) {
    if (auto pos = decoded_.find(needle); pos != std::string::npos) {
      auto result = decoded_.substr(0, pos + needle.size());
      decoded_.erase(0, pos + needle.size());
      return result;
    }
    if (body_done_)
      return protocol_error(fmt::format("the body ended without containing '{}'", needle));
    if (auto err = read_more_body(until, "the expected body text"))
      return err;
  }
}

caf::expected<std::string> http_client::read_body() {
  if (auto err = decode())
    return err;
  auto until = deadline();
  while (!body_done_)
    if (auto err = read_more_body(until, "the end of the body"))
      return err;
  return std::exchange(decoded_, std::string{});
}

bool http_client::wait_closed(std::chrono::milliseconds timeout) {
  auto until = clock_type::now() + timeout;
  for (;;) {
    auto n = fill(until, "the server to close the connection");
    if (!n)
      return classify(n.error()) == errc::disconnected;
    if (*n == 0)
      return true;
  }
}

void http_client::abort(bool reset) {
  if (fd_ < 0)
    return;
  if (reset) {
    linger lin{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
  }
  ::close(fd_);
  fd_ = -1;
}

std::vector<std::string> parse_sse_data(std::string_view body) {
  std::vector<std::string> events;
  std::string data;
  bool has_data = false;
  auto flush = [&] {
    if (has_data)
      events.push_back(std::move(data));
    data.clear();
    has_data = false;
  };
  while (!body.empty()) {
    auto eol = body.find('\n');
    auto line = body.substr(0, eol);
    body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 1);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.substr(0, 5) != "data:")
      continue;
    auto value = line.substr(5);
    if (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    if (has_data)
      data += '\n';
    data += value;
    has_data = true;
  }
  flush();
  return events;
}

} // namespace dynamo::testing
