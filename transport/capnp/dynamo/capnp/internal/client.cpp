#include "dynamo/capnp/internal/client.hpp"

#include "dynamo/capnp/internal/proxy.hpp"
#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/attachable.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include <utility>

namespace dynamo::capnp::internal {

namespace {

/// Token subtype of sink_watch; the token's pointer points at the call key.
constexpr size_t sink_watch_token_type = 0x63706e73;

/// Attached to a caller's sink while its call is in flight: its death cancels the call.
class sink_watch final : public caf::attachable {
public:
  sink_watch(std::shared_ptr<loop::loop_bridge> bridge, rpc_client* client, uint64_t key)
    : bridge_(std::move(bridge)), client_(client), key_(key) {
  }

  void actor_exited(const caf::error&, caf::execution_unit*) override {
    bridge_->post([client = client_, key = key_] { client->sink_gone(key); });
  }

  bool matches(const token& what) override {
    return what.subtype == sink_watch_token_type
           && *static_cast<const uint64_t*>(what.ptr) == key_;
  }

private:
  std::shared_ptr<loop::loop_bridge> bridge_;
  rpc_client* client_;
  uint64_t key_;
};

void unwatch_sink(const caf::actor& sink, uint64_t key) {
  sink->detach(caf::attachable::token{sink_watch_token_type, &key});
}

caf::error shut_down_error() {
  return make_error(errc::disconnected, "the request plane has shut down");
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Splits "host:port" at the last colon (kj parses the rest).
bool split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  unsigned long value = 0;
  for (auto c : text.substr(colon + 1)) {
    if (c < '0' || c > '9')
      return false;
    value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value > 65535)
      return false;
  }
  host = text.substr(0, colon);
  port = static_cast<uint16_t>(value);
  return true;
}

} // namespace

/// One TCP connection to a remote plane, shared by every proxy to that process.
struct rpc_client::connection {
  std::string address;
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<::capnp::TwoPartyClient> rpc;
  rpc::Registry::Client registry{nullptr};
  bool broken = false;
};

/// The loop side of one proxy. Declared so that the capability goes before its connection.
struct rpc_client::proxy_entry {
  std::shared_ptr<connection> conn;
  ::capnp::Capability::Client endpoint{nullptr};
  std::shared_ptr<const interface_binding> binding;
  caf::actor_addr proxy;
  kj::Promise<void> watch{nullptr};
};

/// One call in flight; the call's promise itself lives in the task set.
struct rpc_client::call_entry {
  caf::actor proxy;
  uint64_t call_id = 0;
  bool expects_reply = false;
  std::shared_ptr<stream_state> stream;
  kj::Own<kj::PromiseFulfiller<caf::expected<caf::message>>> cancel;
};

rpc_client::rpc_client(kj::AsyncIoContext& io, caf::actor_system& sys,
                       std::shared_ptr<loop::loop_bridge> bridge,
                       std::chrono::milliseconds connect_timeout, logger_ptr log)
  : io_(io), sys_(sys), bridge_(std::move(bridge)), connect_timeout_(connect_timeout),
    log_(std::move(log)), tasks_(kj::heap<kj::TaskSet>(static_cast<kj::TaskSet::ErrorHandler&>(*this))) {
  auto link = std::make_shared<proxy_link>();
  link->bridge = bridge_;
  link->client = this;
  link_ = std::move(link);
}

rpc_client::~rpc_client() {
  shutdown();
}

void rpc_client::taskFailed(kj::Exception&& e) {
  log_->debug("capnp plane task failed: {}", e.getDescription().cStr());
}

caf::expected<std::shared_ptr<rpc_client::connection>>
rpc_client::connection_to(const std::string& host_port) {
  auto it = connections_.find(host_port);
  if (it != connections_.end() && !it->second->broken)
    return it->second;
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(host_port, host, port))
    return make_error(errc::unavailable, "the endpoint's process has an invalid address",
                      fmt::format("'{}' is not host:port", host_port));
  auto conn = std::make_shared<connection>();
  conn->address = host_port;
  auto* raw = conn.get();
  auto connected = io_.provider->getNetwork()
                     .parseAddress(host, port)
                     .then([](kj::Own<kj::NetworkAddress> addr) {
                       auto stream = addr->connect();
                       return stream.attach(kj::mv(addr));
                     });
  auto bounded = io_.provider->getTimer().timeoutAfter(
    connect_timeout_.count() * kj::MILLISECONDS, kj::mv(connected));
  conn->registry = bounded.then(
    [this, raw, host_port](kj::Own<kj::AsyncIoStream> stream) -> rpc::Registry::Client {
      raw->stream = kj::mv(stream);
      raw->rpc = kj::heap<::capnp::TwoPartyClient>(*raw->stream);
      tasks_->add(raw->rpc->onDisconnect().then([this, raw, host_port] {
        raw->broken = true;
        log_->debug("connection to {} closed", host_port);
        // Dropped outside the disconnect callback: it belongs to the connection's RPC system.
        tasks_->add(kj::evalLater([this, raw, host_port] {
          auto found = connections_.find(host_port);
          if (found != connections_.end() && found->second.get() == raw)
            connections_.erase(found);
        }));
      }));
      return raw->rpc->bootstrap().castAs<rpc::Registry>();
    },
    [raw](kj::Exception&& e) -> rpc::Registry::Client {
      raw->broken = true;
      kj::throwFatalException(kj::mv(e));
    });
  connections_[host_port] = conn;
  return conn;
}

void rpc_client::connect(const std::string& host_port, const instance_endpoint& address,
                         std::shared_ptr<const interface_binding> binding, connect_callback done) {
  if (stopped_) {
    done(shut_down_error());
    return;
  }
  auto conn = connection_to(host_port);
  if (!conn) {
    done(std::move(conn.error()));
    return;
  }
  auto req = (*conn)->registry.resolveRequest();
  auto endpoint_text = address.endpoint.to_string();
  req.setEndpoint(as_text(endpoint_text));
  req.setInstance(address.instance.value);
  auto name = binding->interface_name();
  req.setInterface(::capnp::Text::Reader{name.data(), name.size()});
  auto resolved = req.send().then(
    [this, conn = *conn, binding, done, address](auto&& response) mutable {
      if (response.hasError()) {
        done(decode_error(response.getError()));
        return;
      }
      auto id = next_proxy_++;
      auto proxy = sys_.spawn(proxy_actor, link_, id);
      proxy_entry entry;
      entry.conn = std::move(conn);
      entry.endpoint = response.getEndpoint();
      entry.binding = std::move(binding);
      entry.proxy = proxy.address();
      proxies_.emplace(id, std::move(entry));
      watch_lifetime(id, proxy, response.getLifetime());
      log_->debug("connected to {} at {}", address.to_string(), proxies_.at(id).conn->address);
      done(std::move(proxy));
    });
  auto bounded = io_.provider->getTimer().timeoutAfter(connect_timeout_.count() * kj::MILLISECONDS,
                                                       kj::mv(resolved));
  tasks_->add(bounded.catch_([done, host_port](kj::Exception&& e) {
    done(make_error(errc::unavailable, "the endpoint's process cannot be reached",
                    fmt::format("{}: {}", host_port, e.getDescription().cStr())));
  }));
}

void rpc_client::watch_lifetime(uint64_t proxy_id, const caf::actor& proxy,
                                rpc::Lifetime::Client lifetime) {
  auto weak = proxy.address();
  auto& entry = proxies_.at(proxy_id);
  entry.watch = lifetime.waitRequest()
                  .send()
                  .then(
                    [weak](auto&& response) {
                      caf::anon_send(caf::actor_cast<caf::actor>(weak), cp_lost_atom::value,
                                     decode_error(response.getReason()));
                    },
                    [weak](kj::Exception&& e) {
                      caf::anon_send(caf::actor_cast<caf::actor>(weak), cp_lost_atom::value,
                                     error_from_exception(e, "lifetime watch"));
                    })
                  .eagerlyEvaluate(nullptr);
}

void rpc_client::proxy_gone(uint64_t proxy_id) {
  proxies_.erase(proxy_id);
}

kj::Promise<caf::expected<caf::message>>
rpc_client::with_deadline(kj::Promise<caf::expected<caf::message>> p, int64_t deadline_unix_ms) {
  if (deadline_unix_ms == 0)
    return p;
  auto deadline_error = [] {
    return caf::expected<caf::message>{
      make_error(errc::deadline_exceeded, "the request's deadline passed")};
  };
  auto remaining = deadline_unix_ms - now_unix_ms();
  if (remaining <= 0)
    return deadline_error();
  return p.exclusiveJoin(
    io_.provider->getTimer().afterDelay(remaining * kj::MILLISECONDS).then(deadline_error));
}

void rpc_client::call(uint64_t proxy_id, const caf::actor& proxy, uint64_t call_id,
                      bool expects_reply, caf::message msg) {
  auto reply_error = [&proxy, call_id, expects_reply](caf::error err) {
    if (expects_reply)
      caf::anon_send(proxy, cp_reply_atom::value, call_id, std::move(err));
  };
  auto found = proxies_.find(proxy_id);
  if (stopped_ || found == proxies_.end()) {
    reply_error(shut_down_error());
    return;
  }
  auto& target = found->second;
  outgoing_call out;
  kj::Promise<caf::expected<caf::message>> result{nullptr};
  try {
    result = target.binding->call(out, target.endpoint, std::move(msg));
  } catch (const kj::Exception& e) {
    result = caf::expected<caf::message>{error_from_exception(e, "sending a call")};
  } catch (const std::exception& e) {
    result = caf::expected<caf::message>{
      make_error(errc::internal, "a binding failed to send a call", e.what())};
  }
  auto key = next_call_++;
  auto cancel = kj::newPromiseAndFulfiller<caf::expected<caf::message>>();
  call_entry entry;
  entry.proxy = proxy;
  entry.call_id = call_id;
  entry.expects_reply = expects_reply;
  entry.stream = out.stream();
  entry.cancel = kj::mv(cancel.fulfiller);
  if (entry.stream)
    entry.stream->sink()->attach(
      caf::attachable_ptr{new sink_watch(bridge_, this, key)});
  calls_.emplace(key, std::move(entry));
  auto joined = with_deadline(kj::mv(result), out.deadline_unix_ms())
                  .exclusiveJoin(kj::mv(cancel.promise));
  tasks_->add(joined.then(
    [this, key](caf::expected<caf::message> r) { settle(key, std::move(r)); },
    [this, key](kj::Exception&& e) { settle(key, error_from_exception(e, "remote call")); }));
}

void rpc_client::settle(uint64_t key, caf::expected<caf::message> result) {
  auto it = calls_.find(key);
  if (it == calls_.end())
    return;
  auto entry = std::move(it->second);
  calls_.erase(it);
  // A call that produced nothing before its connection broke is reported as `unavailable`
  // (callers may retry it elsewhere: the callee is gone or was cancelled by the disconnect).
  // When the reply carries that error, the stream is left for the caller to reuse.
  if (!stopped_ && !result && classify(result.error()) == errc::disconnected
      && (!entry.stream || entry.stream->items() == 0)) {
    result = make_error(errc::unavailable,
                        "the connection to a remote endpoint broke before the call produced "
                        "anything",
                        operator_detail(result.error()));
    if (entry.stream && entry.expects_reply)
      entry.stream->abandon();
  }
  if (entry.stream) {
    unwatch_sink(entry.stream->sink(), key);
    if (!result)
      entry.stream->fail(result.error());
    else if (entry.stream->open())
      entry.stream->fail(make_error(errc::disconnected,
                                    "the stream ended without its final message"));
  }
  if (!entry.expects_reply) {
    if (!result)
      log_->debug("a one-way call failed: {}", describe(result.error()));
    return;
  }
  if (result)
    caf::anon_send(entry.proxy, cp_reply_atom::value, entry.call_id, std::move(*result));
  else
    caf::anon_send(entry.proxy, cp_reply_atom::value, entry.call_id, std::move(result.error()));
}

void rpc_client::sink_gone(uint64_t key) {
  auto it = calls_.find(key);
  if (it == calls_.end())
    return;
  // A sink that quits after its stream ended (a relay that forwarded the end) is done, not
  // gone: the call still gets its reply.
  if (it->second.stream && !it->second.stream->open())
    return;
  it->second.cancel->fulfill(caf::expected<caf::message>{
    make_error(errc::cancelled, "the caller's sink terminated")});
}

void rpc_client::shutdown() {
  if (stopped_)
    return;
  stopped_ = true;
  std::vector<uint64_t> keys;
  for (const auto& [key, entry] : calls_)
    keys.push_back(key);
  for (auto key : keys)
    settle(key, shut_down_error());
  for (auto& [id, entry] : proxies_)
    caf::anon_send(caf::actor_cast<caf::actor>(entry.proxy), cp_lost_atom::value,
                   shut_down_error());
  tasks_ = nullptr;
  proxies_.clear();
  connections_.clear();
}

} // namespace dynamo::capnp::internal
