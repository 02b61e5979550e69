#include "dynamo/workload/http_url.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace dynamo::workload {

namespace {

using clock_type = std::chrono::steady_clock;

std::string errno_text(int err) {
  return std::strerror(err);
}

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != lower(prefix[i]))
      return false;
  return true;
}

bool has_ctl(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 32 || c == 127;
  });
}

struct addrinfo_deleter {
  void operator()(addrinfo* list) const noexcept {
    ::freeaddrinfo(list);
  }
};

} // namespace

caf::expected<std::vector<tcp_address>> resolve(const http_url& url) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  auto port = std::to_string(url.port);
  int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &raw);
  if (rc != 0)
    return make_error(errc::unavailable, fmt::format("cannot resolve '{}'", url.host),
                      ::gai_strerror(rc));
  std::unique_ptr<addrinfo, addrinfo_deleter> list{raw};
  std::vector<tcp_address> out;
  for (auto* ai = raw; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage))
      continue;
    tcp_address a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    out.push_back(a);
  }
  if (out.empty())
    return make_error(errc::unavailable, fmt::format("'{}' resolves to no address", url.host));
  return out;
}

int start_connect(const tcp_address& a, bool& connected) {
  int fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) == 0) {
    connected = true;
    return fd;
  }
  if (errno == EINPROGRESS) {
    connected = false;
    return fd;
  }
  int err = errno;
  ::close(fd);
  return -err;
}

std::string http_url::authority() const {
  if (host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string http_url::to_string() const {
  return "http://" + authority() + base_path;
}

caf::expected<http_url> parse_url(std::string_view text) {
  auto bad = [text](std::string_view why) {
    return make_error(errc::invalid_request,
                      fmt::format("bad URL '{}': {}", text.substr(0, 200), why));
  };
  if (!starts_with_icase(text, "http://")) {
    if (starts_with_icase(text, "https://"))
      return bad("https is not supported");
    return bad("expected http://host[:port][/path]");
  }
  auto rest = text.substr(7);
  if (rest.find_first_of("?#") != std::string_view::npos)
    return bad("a query or fragment is not allowed");
  if (has_ctl(rest) || rest.find(' ') != std::string_view::npos)
    return bad("spaces or control characters");
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  http_url url;
  if (slash != std::string_view::npos) {
    url.base_path = std::string{rest.substr(slash)};
    while (!url.base_path.empty() && url.base_path.back() == '/')
      url.base_path.pop_back();
  }
  if (authority.find('@') != std::string_view::npos)
    return bad("user information is not supported");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return bad("unterminated IPv6 address");
    url.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return bad("junk after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty())
        return bad("empty port");
    }
  } else {
    auto colon = authority.find(':');
    url.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty())
        return bad("empty port");
    }
  }
  if (url.host.empty())
    return bad("empty host");
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0
        || value > 65535)
      return bad("the port must be in [1, 65535]");
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

caf::error check_reachable(const http_url& url, std::chrono::milliseconds timeout) {
  auto addrs = resolve(url);
  if (!addrs)
    return std::move(addrs.error());
  auto deadline = clock_type::now() + timeout;
  std::string why;
  for (const auto& a : *addrs) {
    bool connected = false;
    int fd = start_connect(a, connected);
    if (fd < 0) {
      why = errno_text(-fd);
      continue;
    }
    if (!connected) {
      pollfd p{fd, POLLOUT, 0};
      int rc = 0;
      do {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline
                                                                          - clock_type::now());
        rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      } while (rc < 0 && errno == EINTR);
      int err = 0;
      socklen_t len = sizeof(err);
      if (rc == 0) {
        why = "timed out";
      } else if (rc < 0) {
        why = errno_text(errno);
      } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        why = errno_text(err != 0 ? err : errno);
      } else {
        connected = true;
      }
    }
    ::close(fd);
    if (connected)
      return caf::none;
  }
  return make_error(errc::unavailable,
                    fmt::format("cannot connect to {}: {}", url.authority(), why));
}

} // namespace dynamo::workload
