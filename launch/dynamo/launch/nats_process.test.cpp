#include "dynamo/launch/nats_process.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

namespace dynamo::launch {
namespace {

using namespace std::chrono_literals;

bool accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

nats_process_options test_options() {
  nats_process_options opts;
  opts.env = {"PATH=/usr/bin:/bin"}; // nats-server is in /usr/sbin: found by the fallback
  return opts;
}

TEST(nats_process, starts_on_a_free_port_and_stops_cleanly_removing_its_store) {
  std::filesystem::path dir;
  {
    auto nats = nats_process::start(test_options());
    ASSERT_TRUE(nats) << describe(nats.error());
    auto& server = **nats;
    dir = server.dir();
    EXPECT_TRUE(std::filesystem::is_directory(dir / "store"));
    ASSERT_NE(server.port(), 0);
    EXPECT_EQ(server.url(), "nats://127.0.0.1:" + std::to_string(server.port()));
    EXPECT_TRUE(server.running());
    EXPECT_TRUE(accepts(server.port())) << "start() returns once the server accepts";
    auto status = server.stop();
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->success()) << status->to_string();
    EXPECT_FALSE(server.running());
    EXPECT_FALSE(server.stop()) << "stopping twice is a no-op";
    EXPECT_TRUE(std::filesystem::is_directory(dir)) << "stop() keeps the store";
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << "the destructor removes " << dir;
}

TEST(nats_process, restarts_on_the_same_port_after_a_crash) {
  auto nats = nats_process::start(test_options());
  ASSERT_TRUE(nats) << describe(nats.error());
  auto& server = **nats;
  auto port = server.port();
  ::kill(server.pid(), SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms); // polling for the killed child's exit
  ASSERT_FALSE(server.running()) << "timed out after 5 s waiting for the killed server to exit";
  auto err = server.restart();
  ASSERT_FALSE(err) << describe(err);
  EXPECT_EQ(server.port(), port);
  EXPECT_TRUE(accepts(port));
}

TEST(nats_process, a_missing_binary_is_not_found) {
  auto opts = test_options();
  opts.binary = "dynamo-no-such-nats-server";
  auto nats = nats_process::start(opts);
  ASSERT_FALSE(nats);
  EXPECT_EQ(classify(nats.error()), errc::not_found) << describe(nats.error());
  EXPECT_NE(client_message(nats.error()).find("dynamo-no-such-nats-server"), std::string::npos);
}

TEST(nats_process, a_server_that_exits_at_once_is_unavailable_naming_its_log) {
  auto opts = test_options();
  opts.binary = "/bin/false";
  auto nats = nats_process::start(opts);
  ASSERT_FALSE(nats);
  EXPECT_EQ(classify(nats.error()), errc::unavailable) << describe(nats.error());
  EXPECT_NE(operator_detail(nats.error()).find("server.log"), std::string::npos)
    << operator_detail(nats.error());
}

} // namespace
} // namespace dynamo::launch
