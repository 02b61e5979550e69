#include "dynamo/http/server.hpp"

#include "dynamo/error.hpp"
#include "dynamo/http/internal/listen_socket.hpp"
#include "dynamo/http/internal/response_ops.hpp"
#include "dynamo/http/internal/server_impl.hpp"
#include "dynamo/loop/loop_bridge.hpp"

#include <algorithm>

namespace dynamo::http {

namespace {


} // namespace

std::string request::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (internal::iequals(key, name))
      return value;
  return {};
}

std::string request::path() const {
  return target.substr(0, target.find('?'));
}

response_stream::~response_stream() = default;

server::~server() = default;

caf::expected<std::unique_ptr<server>> server::start(server_config cfg, handler h) {
  if (!h)
    return make_error(errc::invalid_request, "the HTTP server needs a request handler");
  if (cfg.header_timeout.count() <= 0)
    return make_error(errc::invalid_request, "the HTTP header timeout must be positive");
  if (!cfg.logger)
    cfg.logger = default_logger("http");
  auto socket = internal::open_listen_socket(cfg.host, cfg.port);
  if (!socket) {
    cfg.logger->error("http server cannot start: {}", describe(socket.error()));
    return std::move(socket.error());
  }
  auto bridge = loop::loop_bridge::make(cfg.logger);
  if (!bridge)
    return std::move(bridge.error());
  auto impl = std::make_unique<internal::server_impl>(std::move(cfg), std::move(h),
                                                      std::move(*socket), std::move(*bridge));
  if (auto err = impl->launch())
    return err;
  return std::unique_ptr<server>{std::move(impl)};
}

} // namespace dynamo::http
