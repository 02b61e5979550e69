// Private to the nats module (included only from its .cpp files): an owned NATS connection and
// the conversion of nats.c statuses into dynamo errors.
#pragma once

#include "dynamo/nats/options.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <nats/nats.h>

#include <functional>
#include <memory>
#include <string_view>

namespace dynamo::nats::detail {

/// Builds an `unavailable` error (or invalid_request for bad arguments) from a nats.c status,
/// with the client's last error text as operator detail. Any thread.
caf::error status_error(natsStatus s, std::string_view what);

/// An open NATS connection. Destroying it closes the connection. Thread-safe like nats.c.
class connection {
public:
  /// Hooks run on nats.c threads, possibly after this object is gone (capture weak state);
  /// exceptions are caught and logged.
  struct hooks {
    /// Runs after every successful reconnect.
    std::function<void()> on_reconnected;
  };

  /// Connects (bounded by opts.timeout). Errors: unavailable when the server is unreachable,
  /// invalid_request for a malformed URL. Any thread.
  static caf::expected<std::unique_ptr<connection>> open(const connection_options& opts,
                                                         bool send_asap, hooks h = {});

  /// Closes and destroys the connection. Not from a nats.c callback of this connection.
  ~connection();

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// The borrowed nats.c handle; valid for the lifetime of this object.
  natsConnection* get() const {
    return nc_;
  }

  /// The backend logger.
  const logger_ptr& log() const {
    return log_;
  }

private:
  connection() = default;

  // What the nats.c callbacks see; freed by the closed callback, the last one nats.c runs.
  struct callback_state {
    logger_ptr log;
    hooks h;
  };

  static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err,
                       void* closure) noexcept;
  static void on_disconnected(natsConnection* nc, void* closure) noexcept;
  static void on_reconnected(natsConnection* nc, void* closure) noexcept;
  static void on_closed(natsConnection* nc, void* closure) noexcept;

  natsConnection* nc_ = nullptr;
  logger_ptr log_;
};

} // namespace dynamo::nats::detail
