// Options shared by the NATS backends of the planes.
#pragma once

#include "dynamo/log.hpp"

#include <chrono>
#include <string>

namespace dynamo::nats {

/// How a backend reaches its NATS server.
struct connection_options {
  /// Server URL(s), comma-separated ("nats://127.0.0.1:4222").
  std::string url = "nats://127.0.0.1:4222";
  /// Connection name shown by the server (monitoring); empty for none.
  std::string name;
  /// Bound on connecting and on every round trip to the server.
  std::chrono::milliseconds timeout{2000};
  /// Pause between reconnect attempts; the client retries forever.
  std::chrono::milliseconds reconnect_wait{250};
  /// Logger of the backend; empty for default_logger("nats").
  logger_ptr log;
};

} // namespace dynamo::nats
