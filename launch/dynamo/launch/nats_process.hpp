// A private nats-server with JetStream: loopback, a free port, a temporary store. Started by the
// launcher when no NATS URL is given; stopped (and its store deleted) at the end.
#pragma once

#include "dynamo/process.hpp"
#include "dynamo/log.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace dynamo::launch {

/// Settings of a private nats-server.
struct nats_process_options {
  /// The server binary: a path, or a name looked up on PATH of `env`, then in the sbin folders.
  std::string binary = "nats-server";
  /// Address to listen on (an IPv4 literal: start() probes it with a TCP connect).
  std::string host = "127.0.0.1";
  /// Port; 0 lets the server pick a free one (read back from its ports file).
  uint16_t port = 0;
  /// Environment of the server process ("NAME=value"; PATH is used to find the binary).
  std::vector<std::string> env;
  /// Bound on start-up: the server must accept TCP connections within it.
  std::chrono::milliseconds start_timeout{10000};
  /// Bound on a graceful stop before SIGKILL.
  std::chrono::milliseconds stop_timeout{5000};
  /// Logger; empty for default_logger("nats-server").
  logger_ptr log;
};

/// One nats-server child process with a temporary store directory. Not thread-safe: owned by
/// one thread (the launcher's main thread). The server dies with that thread (PDEATHSIG).
class nats_process {
public:
  /// Creates the store directory, starts the server and waits until it accepts connections.
  /// Errors: not_found when the binary is missing; unavailable when it exits during start-up
  /// or does not accept within start_timeout (the detail names its log file).
  static caf::expected<std::unique_ptr<nats_process>> start(nats_process_options opts);

  nats_process(const nats_process&) = delete;
  nats_process& operator=(const nats_process&) = delete;

  /// Stops the server and removes the store directory.
  ~nats_process();

  /// "nats://<host>:<port>".
  const std::string& url() const noexcept { return url_; }
  /// The server's TCP port.
  uint16_t port() const noexcept { return port_; }
  /// The temporary directory holding the store, the ports file and the server log.
  const std::filesystem::path& dir() const noexcept { return dir_; }
  /// The server's pid, -1 when it is not running.
  pid_t pid() const noexcept { return pid_; }

  /// True while the server process runs (reaps it when it has exited).
  bool running();

  /// SIGINT (nats-server's graceful shutdown), wait up to stop_timeout, then SIGKILL; reaps
  /// the server. The store is kept. Returns how it ended (nullopt when it was not running).
  std::optional<exit_status> stop();

  /// Starts the server again on the same port with the same store (after a crash or stop()).
  /// Errors as start().
  caf::error restart();

private:
  nats_process(nats_process_options opts, std::filesystem::path dir);
  caf::error spawn();

  nats_process_options opts_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string url_;
};

} // namespace dynamo::launch
