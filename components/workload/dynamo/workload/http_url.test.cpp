#include "dynamo/workload/http_url.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace dynamo;
using namespace dynamo::workload;
using namespace std::chrono_literals;

TEST(http_url, parses_and_rejects) {
  auto u = parse_url("http://127.0.0.1:8000");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->base_path, "");
  auto v = parse_url("HTTP://[::1]:81/prefix/");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "::1");
  EXPECT_EQ(v->base_path, "/prefix");
  EXPECT_EQ(v->authority(), "[::1]:81");
  auto w = parse_url("http://frontend");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->port, 80);
  EXPECT_EQ(w->to_string(), "http://frontend:80");
  for (auto bad : {"https://x", "x:80", "http://", "http://:80", "http://h:0", "http://h:70000",
                   "http://h:", "http://h/p?q=1", "http://u@h", "http://[::1", "http://h x"})
    EXPECT_EQ(classify(parse_url(bad).error()), errc::invalid_request) << bad;
}

TEST(http_url, reachability_needs_a_listener) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto url = parse_url(fmt::format("http://127.0.0.1:{}", ntohs(addr.sin_port)));
  ASSERT_TRUE(url);
  EXPECT_FALSE(check_reachable(*url, 1000ms));
  auto addrs = resolve(*url);
  ASSERT_TRUE(addrs);
  EXPECT_EQ(addrs->size(), 1u);
  ::close(fd);
  EXPECT_EQ(classify(check_reachable(*url, 1000ms)), errc::unavailable);
}
