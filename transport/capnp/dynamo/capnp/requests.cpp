#include "dynamo/capnp/requests.hpp"

#include "dynamo/capnp/internal/client.hpp"
#include "dynamo/capnp/internal/registry.hpp"
#include "dynamo/capnp/internal/server.hpp"
#include "dynamo/error.hpp"
#include "dynamo/loop/loop_bridge.hpp"

#include <fmt/format.h>
#include <kj/async-io.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

namespace dynamo::capnp {

namespace {

/// Checks "host:port" (port 0 allowed for listening).
caf::error validate_host_port(const std::string& text, std::string_view what) {
  auto colon = text.rfind(':');
  auto bad = colon == std::string::npos || colon == 0 || colon + 1 == text.size()
             || text.size() - colon - 1 > 5
             || text.find_first_not_of("0123456789", colon + 1) != std::string::npos
             || std::stoul(text.substr(colon + 1)) > 65535;
  if (bad)
    return make_error(errc::invalid_request,
                      fmt::format("the {} address '{}' is not host:port", what, text));
  return {};
}

/// The plane: registry and bindings on any thread, RPC server and client on the loop thread.
class capnp_requests final : public request_plane {
public:
  capnp_requests(caf::actor_system& sys, request_options opts,
                 std::shared_ptr<loop::loop_bridge> bridge)
    : sys_(sys), opts_(std::move(opts)), bridge_(std::move(bridge)),
      registry_(std::make_shared<internal::served_registry>(opts_.log)),
      bindings_(std::make_shared<internal::binding_map>(opts_.bindings.begin(),
                                                        opts_.bindings.end())) {
  }

  ~capnp_requests() noexcept override {
    shutdown();
  }

  /// Starts the loop thread and waits until it listens. Errors: unavailable.
  caf::error start() {
    std::promise<caf::expected<uint16_t>> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, started = std::move(started)]() mutable {
      run(std::move(started));
    });
    auto port = ready.get();
    if (!port) {
      thread_.join();
      return std::move(port.error());
    }
    auto host = opts_.listen.substr(0, opts_.listen.rfind(':'));
    bound_ = fmt::format("{}:{}", host, *port);
    opts_.log->info("capnp request plane listening on {}", bound_);
    return {};
  }

  std::string name() const override {
    return "capnp";
  }

  caf::error serve(const instance_endpoint& address, caf::actor handler) override {
    if (auto err = validate_serve(address, handler, sys_))
      return err;
    if (!bindings_->contains(address.endpoint.endpoint))
      return make_error(errc::invalid_request,
                        fmt::format("no interface binding for endpoint '{}'",
                                    address.endpoint.endpoint),
                        address.to_string());
    if (stopped_)
      return make_error(errc::unavailable, "the request plane has shut down",
                        address.to_string());
    if (auto err = registry_->add(address, std::move(handler)))
      return err;
    opts_.log->debug("serving {}", address.to_string());
    return {};
  }

  void withdraw(const instance_endpoint& address) override {
    registry_->remove(address);
  }

  caf::expected<caf::actor> connect(const instance_endpoint& address) override {
    if (auto err = validate_address(address))
      return err;
    if (std::this_thread::get_id() == loop_thread_id_)
      on_internal_error("capnp request plane: connect() called on the plane's own loop thread");
    auto binding = bindings_->find(address.endpoint.endpoint);
    if (binding == bindings_->end())
      return make_error(errc::not_found,
                        fmt::format("no interface binding for endpoint '{}'",
                                    address.endpoint.endpoint),
                        address.to_string());
    if (!opts_.resolve)
      return make_error(errc::not_found, "this request plane cannot resolve remote addresses",
                        address.to_string());
    auto host_port = opts_.resolve(address);
    if (!host_port)
      return std::move(host_port.error());
    auto result = std::make_shared<std::promise<caf::expected<caf::actor>>>();
    auto future = result->get_future();
    auto posted = bridge_->post([this, result, host_port = *host_port, address,
                                 binding = binding->second] {
      client_->connect(host_port, address, binding,
                       [result](caf::expected<caf::actor> r) { result->set_value(std::move(r)); });
    });
    if (!posted)
      return make_error(errc::unavailable, "the request plane has shut down");
    result.reset();
    // The loop bounds the attempt by connect_timeout; the margin covers a busy loop.
    if (future.wait_for(opts_.connect_timeout + std::chrono::seconds{2})
        != std::future_status::ready)
      return make_error(errc::unavailable, "connecting to the endpoint timed out",
                        address.to_string());
    try {
      return future.get();
    } catch (const std::future_error&) {
      return make_error(errc::unavailable, "the request plane shut down while connecting",
                        address.to_string());
    }
  }

  std::vector<instance_endpoint> served() const override {
    return registry_->list();
  }

  std::string advertised_address() const override {
    return opts_.advertise.empty() ? bound_ : opts_.advertise;
  }

  void shutdown() override {
    std::lock_guard guard{shutdown_mu_};
    if (stopped_.exchange(true))
      return;
    if (std::this_thread::get_id() == loop_thread_id_)
      on_internal_error("capnp request plane: shutdown() called on the plane's own loop thread");
    if (!bridge_->post([this] { stop_->fulfill(); }))
      opts_.log->warn("capnp request plane: the loop had already stopped");
    if (thread_.joinable())
      thread_.join();
    registry_->clear();
  }

private:
  void run(std::promise<caf::expected<uint16_t>> started) {
    loop_thread_id_ = std::this_thread::get_id();
    bool reported = false;
    try {
      auto io = kj::setupAsyncIo();
      auto listener = io.provider->getNetwork()
                        .parseAddress(opts_.listen)
                        .wait(io.waitScope)
                        ->listen();
      internal::rpc_server server{kj::mv(listener), registry_, bindings_, bridge_, opts_.log};
      internal::rpc_client client{io, sys_, bridge_, opts_.connect_timeout, opts_.log};
      client_ = &client;
      auto stop = kj::newPromiseAndFulfiller<void>();
      stop_ = kj::mv(stop.fulfiller);
      auto bridge_task = bridge_->run(*io.lowLevelProvider);
      started.set_value(server.port());
      reported = true;
      stop.promise.exclusiveJoin(kj::mv(bridge_task)).wait(io.waitScope);
      // Fail what is in flight while the loop still exists, then close every connection.
      client.shutdown();
      client_ = nullptr;
      stop_ = nullptr;
    } catch (const kj::Exception& e) {
      if (!reported)
        started.set_value(make_error(errc::unavailable, "cannot start the capnp request plane",
                                     fmt::format("listen on {}: {}", opts_.listen,
                                                 e.getDescription().cStr())));
      else
        opts_.log->error("capnp request plane loop failed: {}", e.getDescription().cStr());
    }
    bridge_->close();
  }

  caf::actor_system& sys_;
  request_options opts_;
  std::shared_ptr<loop::loop_bridge> bridge_;
  std::shared_ptr<internal::served_registry> registry_;
  std::shared_ptr<const internal::binding_map> bindings_;
  std::string bound_;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_id_{};
  std::mutex shutdown_mu_;
  std::atomic<bool> stopped_{false};
  internal::rpc_client* client_ = nullptr;      // loop thread only
  kj::Own<kj::PromiseFulfiller<void>> stop_;    // loop thread only
};

} // namespace

caf::expected<std::unique_ptr<request_plane>> make_requests(caf::actor_system& sys,
                                                            request_options opts) {
  if (!opts.log)
    opts.log = default_logger("requests");
  if (auto err = validate_host_port(opts.listen, "listen"))
    return err;
  if (!opts.advertise.empty())
    if (auto err = validate_host_port(opts.advertise, "advertise"))
      return err;
  for (const auto& [endpoint, binding] : opts.bindings) {
    if (!binding)
      return make_error(errc::invalid_request,
                        fmt::format("the interface binding for '{}' is empty", endpoint));
    if (!is_valid_name(endpoint))
      return make_error(errc::invalid_request,
                        fmt::format("'{}' is not a valid endpoint name", endpoint));
  }
  if (opts.connect_timeout.count() <= 0)
    return make_error(errc::invalid_request, "connect_timeout must be positive");
  auto bridge = loop::loop_bridge::make(opts.log);
  if (!bridge)
    return std::move(bridge.error());
  auto plane = std::make_unique<capnp_requests>(sys, std::move(opts), std::move(*bridge));
  if (auto err = plane->start())
    return err;
  return std::unique_ptr<request_plane>{std::move(plane)};
}

} // namespace dynamo::capnp
