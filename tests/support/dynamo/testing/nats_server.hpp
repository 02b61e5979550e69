// A private nats-server with JetStream for tests: free loopback port, temporary store,
// bounded start-up, restart on the same port, SIGTERM + reap + store removal on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <sys/types.h>

namespace dynamo::testing {

/// One nats-server child process. Not thread-safe: owned by one test (or test environment).
class nats_server {
public:
  /// Starts `nats-server` (found on PATH) on a free 127.0.0.1 port with JetStream and a fresh
  /// temporary store; waits up to `start_timeout` for its ports file. Throws std::runtime_error
  /// with the reason when it cannot start.
  explicit nats_server(std::chrono::milliseconds start_timeout = std::chrono::seconds{10});

  nats_server(const nats_server&) = delete;
  nats_server& operator=(const nats_server&) = delete;

  /// Stops the server (SIGTERM, reaps it, SIGKILL after 5 s) and removes the store.
  ~nats_server();

  /// "nats://127.0.0.1:<port>".
  const std::string& url() const {
    return url_;
  }

  /// The server's TCP port.
  uint16_t port() const {
    return port_;
  }

  /// Whether the child is running.
  bool running() const {
    return pid_ > 0;
  }

  /// Stops the server (the store is kept). No-op when stopped.
  void stop();

  /// Stops the server if running and starts it again on the same port with the same store;
  /// waits up to `start_timeout` for it. Throws std::runtime_error when it cannot start.
  void restart(std::chrono::milliseconds start_timeout = std::chrono::seconds{10});

private:
  void spawn(const std::string& port_arg, std::chrono::milliseconds start_timeout);

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string url_;
};

} // namespace dynamo::testing
