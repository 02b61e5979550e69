// The built example binary `dynamo_agg` as a process: --help, a bad flag, serving on a port
// from flags or the environment, graceful shutdown on SIGTERM/SIGINT, and a busy port.
#include "dynamo/error.hpp"
#include "dynamo/testing/child_process.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#ifndef DYNAMO_AGG_BINARY
#  error "DYNAMO_AGG_BINARY must name the dynamo_agg executable"
#endif

namespace dynamo::testing {
namespace {

using namespace std::chrono_literals;

/// One GET on a fresh connection; status 0 when the server cannot be reached.
http_response get(uint16_t port, const std::string& target) {
  auto c = http_client::connect("127.0.0.1", port, 1s);
  if (!c)
    return {};
  c->set_timeout(2s);
  auto res = c->request("GET", target);
  return res ? std::move(*res) : http_response{};
}

/// Waits (bounded by `timeout`) until GET /health on `port` answers 200 and the model is
/// listed, or the child exits. Returns whether the server became ready.
bool wait_serving(child_process& child, uint16_t port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&deadline] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  };
  bool healthy = wait_until(
    [&child, port] { return child.exited() || get(port, "/health").status == 200; }, timeout,
    100ms);
  if (!healthy || child.exited())
    return false;
  return wait_until(
           [&child, port] {
             return child.exited()
                    || get(port, "/v1/models").body.find("mock-model") != std::string::npos;
           },
           std::max(left(), std::chrono::milliseconds{1}), 50ms)
         && !child.exited();
}

/// A listening TCP socket on 127.0.0.1 at a port chosen by the OS; closed on destruction.
class held_port {
public:
  held_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(fd_, 4) != 0
        || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot hold a listening socket: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  held_port(const held_port&) = delete;
  held_port& operator=(const held_port&) = delete;
  ~held_port() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  uint16_t port() const noexcept { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(agg_process, help_lists_the_options_and_exits_0) {
  child_process child{DYNAMO_AGG_BINARY, {"--help"}};
  ASSERT_TRUE(child.started());
  auto code = child.wait_exit(20s);
  ASSERT_TRUE(code) << "timed out after 20 s waiting for --help to exit" << child.dump();
  EXPECT_EQ(*code, 0) << child.dump();
  auto help = child.out();
  for (const auto* needle : {"--frontend.port", "--port", "--worker.replicas", "--router.policy",
                             "--runtime.drain-timeout", "DYN_HTTP_PORT"})
    EXPECT_NE(help.find(needle), std::string::npos) << needle << " missing from --help:" << help;
}

TEST(agg_process, unknown_flag_exits_2_naming_it) {
  child_process child{DYNAMO_AGG_BINARY, {"--no-such-flag", "1"}};
  ASSERT_TRUE(child.started());
  auto code = child.wait_exit(20s);
  ASSERT_TRUE(code) << "timed out after 20 s waiting for the bad flag to be refused"
                    << child.dump();
  EXPECT_EQ(*code, 2) << child.dump();
  EXPECT_NE(child.err().find("no-such-flag"), std::string::npos)
    << "stderr must name the unknown flag" << child.dump();
}

TEST(agg_process, serves_streams_and_drains_cleanly_on_sigterm) {
  auto port = free_port();
  child_process child{DYNAMO_AGG_BINARY, {"--port", std::to_string(port), "--engine", "mocker",
                                         "--worker.speedup-ratio", "1000"}};
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(wait_serving(child, port, 20s))
    << "timed out after 20 s waiting for /health = 200 and mock-model on port " << port
    << child.dump();
  auto c = http_client::connect("127.0.0.1", port);
  ASSERT_TRUE(c) << describe(c.error());
  auto res = c->request("POST", "/v1/chat/completions",
                        R"({"model":"mock-model","messages":[{"role":"user","content":"Hi"}],)"
                        R"("max_tokens":8,"stream":true})",
                        {{"Content-Type", "application/json"}});
  ASSERT_TRUE(res) << describe(res.error()) << child.dump();
  EXPECT_EQ(res->status, 200) << res->body;
  auto body = res->body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
    body.pop_back();
  EXPECT_TRUE(body.ends_with("data: [DONE]")) << res->body;
  auto events = parse_sse_data(res->body);
  EXPECT_GE(events.size(), 2u) << res->body;
  c->abort(false);
  child.signal(SIGTERM);
  auto code = child.wait_exit(15s);
  ASSERT_TRUE(code) << "timed out after 15 s waiting for exit after SIGTERM" << child.dump();
  EXPECT_EQ(*code, 0) << child.dump();
  EXPECT_NE(child.err().find("clean drain"), std::string::npos) << child.dump();
}

TEST(agg_process, port_from_the_environment_is_honoured) {
  auto port = free_port();
  child_process child{DYNAMO_AGG_BINARY, {"--engine", "mocker", "--worker.speedup-ratio", "1000"},
                      {"DYN_HTTP_PORT=" + std::to_string(port)}};
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(wait_serving(child, port, 20s))
    << "timed out after 20 s waiting for /health = 200 on DYN_HTTP_PORT " << port << child.dump();
  EXPECT_EQ(get(port, "/health").status, 200);
  child.signal(SIGINT);
  auto code = child.wait_exit(15s);
  ASSERT_TRUE(code) << "timed out after 15 s waiting for exit after SIGINT" << child.dump();
  EXPECT_EQ(*code, 0) << child.dump();
}

TEST(agg_process, busy_port_fails_fast_naming_the_address) {
  held_port busy;
  ASSERT_NE(busy.port(), 0);
  child_process child{DYNAMO_AGG_BINARY,
                      {"--port", std::to_string(busy.port()), "--engine", "mocker"}};
  ASSERT_TRUE(child.started());
  auto code = child.wait_exit(20s);
  ASSERT_TRUE(code) << "timed out after 20 s waiting for the binary to give up on a busy port"
                    << child.dump();
  EXPECT_NE(*code, 0) << child.dump();
  EXPECT_LT(*code, 128) << "must exit, not crash" << child.dump();
  auto address = "127.0.0.1:" + std::to_string(busy.port());
  EXPECT_NE(child.err().find(address), std::string::npos)
    << "the log must name " << address << child.dump();
}

} // namespace
} // namespace dynamo::testing
