#include "dynamo/http/internal/server_impl.hpp"

#include "dynamo/error.hpp"
#include "dynamo/http/internal/connection_stream.hpp"
#include "dynamo/http/internal/request_context.hpp"
#include "dynamo/http/internal/response_ops.hpp"

#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/compat/http.h>
#include <kj/exception.h>

#include <fmt/format.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <utility>

namespace dynamo::http::internal {

namespace {

constexpr auto accept_retry_delay = 100 * kj::MILLISECONDS;

std::string describe(const kj::Exception& e) {
  return std::string{e.getDescription().cStr()};
}

/// Routes kj's own log lines (KJ_LOG) on the loop thread to our logger.
class kj_log_redirect final : public kj::ExceptionCallback {
public:
  explicit kj_log_redirect(logger_ptr log) : log_(std::move(log)) {
  }

  void logMessage(kj::LogSeverity severity, const char* file, int line, int,
                  kj::String&& text) override {
    auto level = spdlog::level::debug;
    switch (severity) {
      case kj::LogSeverity::WARNING:
        level = spdlog::level::warn;
        break;
      case kj::LogSeverity::ERROR:
      case kj::LogSeverity::FATAL:
        level = spdlog::level::err;
        break;
      default:
        break;
    }
    log_->log(level, "kj {}:{}: {}", file, line, text.cStr());
  }

private:
  logger_ptr log_;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

/// The kj HttpService of one connection: turns each request into a request_context.
class connection_service final : public kj::HttpService {
public:
  connection_service(loop_env& env, connection_stream& conn) : env_(env), conn_(conn) {
  }

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                            Response& response) override {
    if (conn_.closing())
      return KJ_EXCEPTION(DISCONNECTED, "request pipelined after the connection was closed");
    http::request req;
    req.method = kj::str(method).cStr();
    req.target.assign(url.cStr(), url.size());
    req.headers.reserve(headers.size());
    headers.forEach([&req](kj::StringPtr name, kj::StringPtr value) {
      req.headers.emplace_back(std::string{name.cStr(), name.size()},
                               std::string{value.cStr(), value.size()});
    });
    auto close_after = wants_close(req, conn_.http10());
    auto ctx = kj::heap<request_context>(env_, conn_, response, method, close_after);
    auto promise = ctx->run(body, std::move(req));
    return promise.attach(kj::mv(ctx));
  }

private:
  loop_env& env_;
  connection_stream& conn_;
};

#pragma GCC diagnostic pop

} // namespace

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

/// Everything kj on the loop thread: listener, HttpServer, connections, bridge task.
/// Declaration order is teardown order reversed: connections go before the HttpServer.
class loop_state final : private kj::TaskSet::ErrorHandler,
                         private kj::HttpServerErrorHandler,
                         private kj::HttpServerCallbacks {
public:
  loop_state(kj::AsyncIoContext& io, const server_config& cfg, const handler& on_request,
             logger_ptr log, std::shared_ptr<loop::loop_bridge> bridge, std::atomic<size_t>& active,
             loop::unique_fd listen_fd)
    : io_(io),
      log_(std::move(log)),
      env_{table_, on_request, log_, cfg.max_body_bytes, bridge, active, close_next_response_},
      connections_(*this) {
    kj::HttpServerSettings settings;
    settings.headerTimeout = static_cast<int64_t>(cfg.header_timeout.count()) * kj::MILLISECONDS;
    settings.errorHandler = static_cast<kj::HttpServerErrorHandler&>(*this);
    settings.callbacks = static_cast<kj::HttpServerCallbacks&>(*this);
    http_ = kj::heap<kj::HttpServer>(
      io_.provider->getTimer(), table_,
      [this](kj::AsyncIoStream& conn) -> kj::Own<kj::HttpService> {
        auto* stream = dynamic_cast<connection_stream*>(&conn);
        if (stream == nullptr)
          on_internal_error("http: kj handed the service factory a foreign stream");
        return kj::heap<connection_service>(env_, *stream);
      },
      settings);
    listener_ = io_.lowLevelProvider->wrapListenSocketFd(
      listen_fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP
                             | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC
                             | kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
    accepting_ = accept_loop().eagerlyEvaluate([this](kj::Exception&& e) {
      log_->error("http accept loop ended: {}", describe(e));
    });
    bridge_task_ = bridge->run(*io_.lowLevelProvider).eagerlyEvaluate([this](kj::Exception&& e) {
      log_->critical("http loop bridge failed: {}", describe(e));
    });
    auto paf = kj::newPromiseAndFulfiller<void>();
    stop_ = kj::mv(paf.fulfiller);
    stopped_ = kj::mv(paf.promise);
  }

  loop_state(const loop_state&) = delete;
  loop_state& operator=(const loop_state&) = delete;

  /// Blocks the loop thread, serving, until request_stop().
  void serve_until_stopped() {
    stopped_.wait(io_.waitScope);
  }

  /// Makes serve_until_stopped() return.
  void request_stop() {
    stop_->fulfill();
  }

  /// Closes the listening socket; open connections stay.
  void stop_accepting() {
    if (listener_.get() == nullptr)
      return;
    accepting_ = kj::READY_NOW;
    listener_ = nullptr;
    log_->info("http server stopped accepting new connections");
  }

private:
  kj::Promise<void> accept_loop() {
    return listener_->accept().then(
      [this](kj::Own<kj::AsyncIoStream>&& conn) -> kj::Promise<void> {
        serve(kj::mv(conn));
        return accept_loop();
      },
      [this](kj::Exception&& e) -> kj::Promise<void> {
        log_->error("http accept failed (retrying): {}", describe(e));
        return io_.provider->getTimer().afterDelay(accept_retry_delay).then([this] {
          return accept_loop();
        });
      });
  }

  void serve(kj::Own<kj::AsyncIoStream> conn) {
    int one = 1;
    try {
      conn->setsockopt(IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    } catch (const kj::Exception& e) {
      log_->debug("http: TCP_NODELAY not set: {}", describe(e));
    }
    auto stream = kj::heap<connection_stream>(kj::mv(conn), io_.provider->getTimer(), log_);
    connection_stream* served = stream.get();
    // kj only borrows the stream, so that the connection outlives kj's handling of it: once kj
    // lets go (its own grace periods included), the lingering close runs under our limits.
    connections_.add(http_->listenHttpCleanDrain(*served)
                       .then([](bool) {},
                             [this](kj::Exception&& e) {
                               log_->debug("http connection ended with an error: {}",
                                           describe(e));
                             })
                       .then([served] { return served->linger_close(); })
                       .attach(kj::mv(stream)));
  }

  void taskFailed(kj::Exception&& exception) override {
    log_->debug("http connection ended with an error: {}", describe(exception));
  }

  kj::Promise<void> handleClientProtocolError(kj::HttpHeaders::ProtocolError error,
                                              kj::HttpService::Response& response) override {
    log_->debug("malformed http request ({}): {}", error.statusCode, error.description.cStr());
    return kj::HttpServerErrorHandler::handleClientProtocolError(kj::mv(error), response);
  }

  kj::Promise<void> handleApplicationError(
    kj::Exception exception, kj::Maybe<kj::HttpService::Response&> response) override {
    if (exception.getType() == kj::Exception::Type::DISCONNECTED || response == nullptr) {
      log_->debug("http connection closed: {}", describe(exception));
      return kj::READY_NOW;
    }
    log_->warn("http request failed before a response: {}", describe(exception));
    return kj::HttpServerErrorHandler::handleApplicationError(kj::mv(exception), response);
  }

  kj::Promise<void> handleNoResponse(kj::HttpService::Response& response) override {
    log_->error("http request completed without a response");
    return kj::HttpServerErrorHandler::handleNoResponse(response);
  }

  bool shouldClose() override {
    return close_next_response_;
  }

  kj::AsyncIoContext& io_;
  logger_ptr log_;
  kj::HttpHeaderTable table_;
  bool close_next_response_ = false;
  loop_env env_;
  kj::Own<kj::HttpServer> http_;
  kj::TaskSet connections_;
  kj::Own<kj::ConnectionReceiver> listener_;
  kj::Promise<void> accepting_ = nullptr;
  kj::Promise<void> bridge_task_ = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> stop_;
  kj::Promise<void> stopped_ = nullptr;
};

#pragma GCC diagnostic pop

server_impl::server_impl(server_config cfg, handler h, listen_socket socket,
                         std::shared_ptr<loop::loop_bridge> bridge)
  : cfg_(std::move(cfg)),
    handler_(std::move(h)),
    log_(cfg_.logger ? cfg_.logger : default_logger("http")),
    socket_(std::move(socket)),
    port_(socket_.port),
    bridge_(std::move(bridge)) {
}

server_impl::~server_impl() {
  if (thread_.joinable()) {
    if (std::this_thread::get_id() == thread_.get_id())
      on_internal_error("http server destroyed on its own event-loop thread");
    bridge_->post([this] {
      if (loop_ != nullptr)
        loop_->request_stop();
    });
    thread_.join();
    log_->info("http server on port {} stopped", port_);
  }
  bridge_->close();
}

caf::error server_impl::launch() {
  std::promise<caf::error> ready;
  auto result = ready.get_future();
  thread_ = std::thread([this, &ready] { loop_main(&ready); });
  if (auto err = result.get()) {
    thread_.join();
    return err;
  }
  log_->info("http server listening on {}:{}", cfg_.host, port_);
  return {};
}

void server_impl::loop_main(std::promise<caf::error>* ready) {
  kj_log_redirect redirect{log_};
  auto report = [&ready](caf::error err) {
    if (ready != nullptr)
      std::exchange(ready, nullptr)->set_value(std::move(err));
  };
  try {
    auto io = kj::setupAsyncIo();
    loop_state state{io, cfg_, handler_, log_, bridge_, active_, std::move(socket_.fd)};
    loop_ = &state;
    report(caf::error{});
    try {
      state.serve_until_stopped();
    } catch (...) {
      loop_ = nullptr;
      throw;
    }
    loop_ = nullptr;
  } catch (const std::exception& e) {
    log_->critical("http event loop failed: {}", e.what());
    report(make_error(errc::unavailable, "the HTTP server could not start", e.what()));
  }
  bridge_->close();
}

uint16_t server_impl::port() const {
  return port_;
}

void server_impl::stop_accepting() {
  if (std::this_thread::get_id() == thread_.get_id()) {
    if (loop_ != nullptr)
      loop_->stop_accepting();
    return;
  }
  auto applied = std::make_shared<std::promise<void>>();
  auto done = applied->get_future();
  bool posted = bridge_->post([this, applied] {
    if (loop_ != nullptr)
      loop_->stop_accepting();
    applied->set_value();
  });
  if (posted)
    done.wait();
}

size_t server_impl::active_requests() const {
  return active_.load(std::memory_order_relaxed);
}

} // namespace dynamo::http::internal
