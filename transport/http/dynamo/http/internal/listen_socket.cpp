#include "dynamo/http/internal/listen_socket.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace dynamo::http::internal {

namespace {

constexpr int listen_backlog = 1024;

std::string render_address(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return fmt::format("{}:{}", text, ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
  }
  return "<unknown address family>";
}

uint16_t bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return 0;
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

struct addrinfo_deleter {
  void operator()(addrinfo* list) const noexcept {
    ::freeaddrinfo(list);
  }
};

} // namespace

caf::expected<listen_socket> open_listen_socket(const std::string& host, uint16_t port) {
  if (host.empty())
    return make_error(errc::invalid_request, "the HTTP listen host is empty");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw); rc != 0)
    return make_error(errc::invalid_request,
                      fmt::format("cannot resolve HTTP listen host '{}'", host),
                      fmt::format("getaddrinfo({}): {}", host, ::gai_strerror(rc)));
  std::unique_ptr<addrinfo, addrinfo_deleter> list{raw};
  std::string failures;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    auto where = render_address(ai->ai_addr);
    loop::unique_fd fd{::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          ai->ai_protocol)};
    const char* step = "socket";
    if (fd) {
      int one = 1;
      step = "setsockopt(SO_REUSEADDR)";
      if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0) {
        step = "bind";
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
          step = "listen";
          if (::listen(fd.get(), listen_backlog) == 0) {
            auto actual = bound_port(fd.get());
            return listen_socket{std::move(fd), actual};
          }
        }
      }
    }
    int err = errno;
    if (!failures.empty())
      failures += "; ";
    failures += fmt::format("{}({}): {}", step, where, std::strerror(err));
  }
  return make_error(errc::unavailable,
                    fmt::format("cannot listen for HTTP on {}:{}", host, port), failures);
}

} // namespace dynamo::http::internal
