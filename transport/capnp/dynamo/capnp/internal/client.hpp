// The caller side of a capnp plane, on its loop thread: one connection per remote "host:port"
// shared by every proxy to that process, the resolved endpoint capability behind each proxy,
// and the calls in flight with their streams and deadlines.
#pragma once

#include "dynamo/capnp/binding.hpp"
#include "dynamo/ids.hpp"
#include "dynamo/log.hpp"
#include "dynamo/loop/loop_bridge.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace dynamo::capnp::internal {

struct proxy_link;

/// Calls through proxies and the connections they share. Loop thread only.
class rpc_client final : private kj::TaskSet::ErrorHandler {
public:
  /// Receives the outcome of connect(): the proxy, or a classified error.
  using connect_callback = std::function<void(caf::expected<caf::actor>)>;

  rpc_client(kj::AsyncIoContext& io, caf::actor_system& sys,
             std::shared_ptr<loop::loop_bridge> bridge, std::chrono::milliseconds connect_timeout,
             logger_ptr log);

  rpc_client(const rpc_client&) = delete;
  rpc_client& operator=(const rpc_client&) = delete;

  /// Fails everything still in flight with `disconnected` (see shutdown()).
  ~rpc_client();

  /// Resolves `address` at the process `host_port` (reusing its connection) and spawns a proxy
  /// bound to it. `done` runs once, with unavailable when the process cannot be reached within
  /// the connect timeout, or with the remote's error (not_found, invalid_request).
  void connect(const std::string& host_port, const instance_endpoint& address,
               std::shared_ptr<const interface_binding> binding, connect_callback done);

  /// Performs message `msg` sent to proxy `proxy_id`; replies to `proxy` as call `call_id`
  /// when `expects_reply`.
  void call(uint64_t proxy_id, const caf::actor& proxy, uint64_t call_id, bool expects_reply,
            caf::message msg);

  /// The proxy terminated: drop its capability.
  void proxy_gone(uint64_t proxy_id);

  /// The sink of call `key` terminated: cancel the call, unless its stream already ended (the
  /// call then still gets its reply).
  void sink_gone(uint64_t key);

  /// Fails every call in flight with `disconnected`, tells every proxy it is lost and closes
  /// every connection. Idempotent.
  void shutdown();

  /// Number of open connections (for tests and diagnostics).
  size_t connections() const {
    return connections_.size();
  }

private:
  struct connection;
  struct proxy_entry;
  struct call_entry;

  caf::expected<std::shared_ptr<connection>> connection_to(const std::string& host_port);
  void settle(uint64_t key, caf::expected<caf::message> result);
  kj::Promise<caf::expected<caf::message>> with_deadline(kj::Promise<caf::expected<caf::message>> p,
                                                         int64_t deadline_unix_ms);
  void watch_lifetime(uint64_t proxy_id, const caf::actor& proxy, rpc::Lifetime::Client lifetime);
  void taskFailed(kj::Exception&& e) override;

  kj::AsyncIoContext& io_;
  caf::actor_system& sys_;
  std::shared_ptr<loop::loop_bridge> bridge_;
  std::chrono::milliseconds connect_timeout_;
  logger_ptr log_;
  std::shared_ptr<const proxy_link> link_;
  std::map<std::string, std::shared_ptr<connection>> connections_;
  std::map<uint64_t, proxy_entry> proxies_;
  std::map<uint64_t, call_entry> calls_;
  uint64_t next_proxy_ = 1;
  uint64_t next_call_ = 1;
  bool stopped_ = false;
  kj::Own<kj::TaskSet> tasks_;
};

} // namespace dynamo::capnp::internal
