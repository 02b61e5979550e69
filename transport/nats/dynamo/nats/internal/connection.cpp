#include "dynamo/nats/internal/connection.hpp"

#include "dynamo/error.hpp"

#include <string>

namespace dynamo::nats::detail {

caf::error status_error(natsStatus s, std::string_view what) {
  const char* last = nats_GetLastError(nullptr);
  std::string detail = std::string{what} + ": " + natsStatus_GetText(s);
  if (last != nullptr && *last != '\0')
    detail += std::string{" ("} + last + ")";
  auto code = s == NATS_INVALID_ARG ? errc::invalid_request : errc::unavailable;
  return make_error(code, code == errc::unavailable ? "the NATS server is not reachable"
                                                    : "invalid NATS request",
                    std::move(detail));
}

caf::expected<std::unique_ptr<connection>>
connection::open(const connection_options& opts, bool send_asap, hooks h) {
  std::unique_ptr<connection> result{new connection};
  result->log_ = opts.log ? opts.log : default_logger("nats");
  auto cb_state = std::make_unique<callback_state>(callback_state{result->log_, std::move(h)});
  natsOptions* o = nullptr;
  auto s = natsOptions_Create(&o);
  if (s == NATS_OK)
    s = natsOptions_SetURL(o, opts.url.c_str());
  if (s == NATS_OK && !opts.name.empty())
    s = natsOptions_SetName(o, opts.name.c_str());
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(o, opts.timeout.count());
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait(o, opts.reconnect_wait.count());
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap(o, send_asap);
  auto* self = cb_state.get();
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler(o, &connection::on_error, self);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB(o, &connection::on_disconnected, self);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB(o, &connection::on_reconnected, self);
  if (s == NATS_OK)
    s = natsOptions_SetClosedCB(o, &connection::on_closed, self);
  if (s == NATS_OK)
    s = natsConnection_Connect(&result->nc_, o);
  natsOptions_Destroy(o);
  if (s != NATS_OK) {
    result->nc_ = nullptr;
    return status_error(s, "connect to " + opts.url);
  }
  static_cast<void>(cb_state.release()); // owned by the connection's callbacks now
  return result;
}

connection::~connection() {
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

void connection::on_error(natsConnection*, natsSubscription*, natsStatus err,
                          void* closure) noexcept {
  auto* self = static_cast<callback_state*>(closure);
  try {
    if (err == NATS_SLOW_CONSUMER)
      self->log->debug("nats: slow consumer, messages dropped");
    else
      self->log->warn("nats: asynchronous error: {}", natsStatus_GetText(err));
  } catch (...) {
  }
}

void connection::on_disconnected(natsConnection* nc, void* closure) noexcept {
  auto* self = static_cast<callback_state*>(closure);
  if (natsConnection_IsClosed(nc))
    return; // closed on purpose
  try {
    self->log->warn("nats: disconnected, reconnecting");
  } catch (...) {
  }
}

void connection::on_reconnected(natsConnection*, void* closure) noexcept {
  auto* self = static_cast<callback_state*>(closure);
  try {
    self->log->info("nats: reconnected");
    if (self->h.on_reconnected)
      self->h.on_reconnected();
  } catch (...) {
  }
}

void connection::on_closed(natsConnection*, void* closure) noexcept {
  delete static_cast<callback_state*>(closure);
}

} // namespace dynamo::nats::detail
