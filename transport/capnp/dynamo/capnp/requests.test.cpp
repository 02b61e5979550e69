#include "dynamo/capnp/requests.hpp"

#include "ct_binding.hpp"
#include "dynamo/error.hpp"
#include "dynamo/testing/contract/requests_contract.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace std::chrono_literals;

// The contract suite is only borrowed for its test handler; it runs in dynamo_capnp_contract_tests.
namespace dynamo::testing::contract {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(requests_contract);
} // namespace dynamo::testing::contract

namespace dynamo::capnp {
namespace {

using testing::contract::contract_actor;
using testing::contract::contract_server;
using testing::contract::contract_server_options;
using testing::contract::contract_server_probe;
using testing::contract::ct_call_atom;
using testing::contract::ct_echo_atom;

/// Cancel messages a recording handler received.
struct cancel_log {
  std::mutex mu;
  std::vector<std::pair<request_id, cancel_kind>> cancels;

  bool has(request_id rid, cancel_kind kind) {
    std::lock_guard guard{mu};
    return std::find(cancels.begin(), cancels.end(), std::make_pair(rid, kind)) != cancels.end();
  }
};

/// A handler that starts a stream (one item) and then holds it until cancelled.
contract_actor::behavior_type holding_handler(contract_actor::pointer self,
                                              std::shared_ptr<cancel_log> log) {
  return {
    [](ct_echo_atom, std::string& text) { return text; },
    [self](ct_call_atom, request_id rid, uint32_t, stream_sink_actor<std::string> sink) {
      self->send(sink, stream_item_atom::value, rid, std::string{"first"});
    },
    [log](cancel_atom, request_id rid, cancel_kind kind) {
      std::lock_guard guard{log->mu};
      log->cancels.emplace_back(rid, kind);
    },
  };
}

/// A sink that terminates when the first item of stream `rid` arrives.
caf::behavior quit_on_first_item(caf::event_based_actor* self, request_id rid) {
  return {[self, rid](stream_item_atom, request_id r, std::string&) {
    if (r == rid)
      self->quit();
  }};
}

/// Established TCP connections (IPv4) whose remote port is `port`, from /proc/net/tcp.
size_t established_to(uint16_t port) {
  std::ifstream in{"/proc/net/tcp"};
  std::string line;
  std::getline(in, line);
  size_t n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields{line};
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    auto colon = remote.find(':');
    if (colon != std::string::npos && state == "01"
        && std::stoul(remote.substr(colon + 1), nullptr, 16) == port)
      ++n;
  }
  return n;
}

uint16_t port_of(const std::string& host_port) {
  return static_cast<uint16_t>(std::stoul(host_port.substr(host_port.rfind(':') + 1)));
}

class capnp_requests_test : public ::testing::Test {
protected:
  capnp_requests_test() {
    cfg_.set("scheduler.max-threads", 2);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    server_ = make_plane({});
    client_ = make_plane(server_->advertised_address());
  }

  ~capnp_requests_test() override {
    for (auto& hdl : actors_)
      caf::anon_send_exit(hdl, caf::exit_reason::kill);
    client_.reset();
    server_.reset();
    sys_.reset();
  }

  std::unique_ptr<request_plane> make_plane(std::string peer) {
    request_options opts;
    opts.bindings["generate"] = testing::contract::make_contract_binding();
    opts.connect_timeout = 1000ms;
    if (!peer.empty())
      opts.resolve = [peer](const instance_endpoint&) { return caf::expected<std::string>{peer}; };
    auto plane = make_requests(*sys_, std::move(opts));
    EXPECT_TRUE(plane) << describe(plane.error());
    return plane ? std::move(*plane) : nullptr;
  }

  instance_endpoint address(uint64_t instance = 1) {
    return {endpoint_id{"ns", "worker", "generate"}, instance_id{instance}};
  }

  template <class Handle>
  Handle keep(Handle hdl) {
    actors_.push_back(caf::actor_cast<caf::actor>(hdl));
    return hdl;
  }

  /// Serves a holding handler at `addr` and connects to it through the client plane.
  contract_actor serve_holding(const instance_endpoint& addr) {
    auto srv = keep(sys_->spawn(holding_handler, log_));
    EXPECT_FALSE(server_->serve(addr, caf::actor_cast<caf::actor>(srv)));
    auto hdl = connect_as<contract_actor>(*client_, addr);
    EXPECT_TRUE(hdl) << describe(hdl.error());
    return hdl ? *hdl : contract_actor{};
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<request_plane> server_;
  std::unique_ptr<request_plane> client_;
  std::vector<caf::actor> actors_;
  std::shared_ptr<cancel_log> log_ = std::make_shared<cancel_log>();
};

TEST_F(capnp_requests_test, destroying_the_peer_plane_mid_stream_fails_the_sink_at_once) {
  auto hdl = serve_holding(address());
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{*sys_};
  self->send(hdl, ct_call_atom::value, request_id{5}, uint32_t{10},
             caf::actor_cast<stream_sink_actor<std::string>>(self));
  bool got_item = false;
  self->receive([&got_item](stream_item_atom, request_id, std::string&) { got_item = true; },
                caf::after(5s) >> [] { ADD_FAILURE() << "the stream did not start"; });
  ASSERT_TRUE(got_item);
  auto destroyed_at = std::chrono::steady_clock::now();
  server_.reset();
  std::optional<caf::error> failure;
  self->receive([&failure](stream_fail_atom, request_id, caf::error& err) { failure = err; },
                caf::after(2s) >> [] { ADD_FAILURE() << "no s_fail after the peer went away"; });
  ASSERT_TRUE(failure);
  EXPECT_EQ(classify(*failure), errc::disconnected) << describe(*failure);
  EXPECT_LT(std::chrono::steady_clock::now() - destroyed_at, 1s);
}

TEST_F(capnp_requests_test, destroying_the_client_plane_mid_stream_kills_the_handlers_request) {
  auto hdl = serve_holding(address());
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{*sys_};
  self->send(hdl, ct_call_atom::value, request_id{6}, uint32_t{10},
             caf::actor_cast<stream_sink_actor<std::string>>(self));
  bool got_item = false;
  self->receive([&got_item](stream_item_atom, request_id, std::string&) { got_item = true; },
                caf::after(5s) >> [] { ADD_FAILURE() << "the stream did not start"; });
  ASSERT_TRUE(got_item);
  client_.reset();
  DYNAMO_EXPECT_EVENTUALLY(log_->has(6, cancel_kind::kill), 2000ms,
                           "the handler gets cancel(6, kill) when its caller's plane goes away");
}

TEST_F(capnp_requests_test, a_terminated_sink_cancels_its_call_remotely) {
  auto hdl = serve_holding(address());
  ASSERT_TRUE(hdl);
  auto sink = sys_->spawn(quit_on_first_item, request_id{8});
  caf::anon_send(hdl, ct_call_atom::value, request_id{8}, uint32_t{10},
                 caf::actor_cast<stream_sink_actor<std::string>>(sink));
  DYNAMO_EXPECT_EVENTUALLY(log_->has(8, cancel_kind::kill), 2000ms,
                           "the handler gets cancel(8, kill) once the caller's sink terminated");
}

TEST_F(capnp_requests_test, proxies_to_one_process_share_one_connection) {
  auto port = port_of(server_->advertised_address());
  auto first = serve_holding(address(1));
  auto second = serve_holding(address(2));
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  caf::scoped_actor self{*sys_};
  for (const auto& hdl : {first, second}) {
    std::optional<std::string> reply;
    self->request(hdl, 5s, ct_echo_atom::value, std::string{"ping"})
      .receive([&reply](std::string& r) { reply = r; },
               [](caf::error& err) { ADD_FAILURE() << describe(err); });
    EXPECT_EQ(reply, "ping");
  }
  EXPECT_EQ(established_to(port), 1u) << "both proxies use one TCP connection";
}

TEST_F(capnp_requests_test, unknown_endpoints_and_unknown_bindings_are_not_found) {
  auto missing = client_->connect(address(99));
  ASSERT_FALSE(missing);
  EXPECT_EQ(classify(missing.error()), errc::not_found) << describe(missing.error());
  auto unbound = client_->connect({endpoint_id{"ns", "worker", "embed"}, instance_id{1}});
  ASSERT_FALSE(unbound);
  EXPECT_EQ(classify(unbound.error()), errc::not_found) << describe(unbound.error());
  auto srv = keep(sys_->spawn(holding_handler, log_));
  EXPECT_EQ(classify(server_->serve({endpoint_id{"ns", "worker", "embed"}, instance_id{1}},
                                    caf::actor_cast<caf::actor>(srv))),
            errc::invalid_request)
    << "an endpoint without a binding cannot be served";
}

TEST_F(capnp_requests_test, an_unreachable_process_is_unavailable_within_the_connect_timeout) {
  request_options opts;
  opts.bindings["generate"] = testing::contract::make_contract_binding();
  opts.connect_timeout = 300ms;
  auto dead_port = testing::free_port();
  opts.resolve = [dead_port](const instance_endpoint&) {
    return caf::expected<std::string>{"127.0.0.1:" + std::to_string(dead_port)};
  };
  auto plane = make_requests(*sys_, std::move(opts));
  ASSERT_TRUE(plane);
  auto started = std::chrono::steady_clock::now();
  auto hdl = (*plane)->connect(address());
  ASSERT_FALSE(hdl);
  EXPECT_EQ(classify(hdl.error()), errc::unavailable) << describe(hdl.error());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(capnp_requests_test, bad_options_are_rejected) {
  request_options bad_listen;
  bad_listen.listen = "localhost";
  auto a = make_requests(*sys_, bad_listen);
  ASSERT_FALSE(a);
  EXPECT_EQ(classify(a.error()), errc::invalid_request);
  request_options empty_binding;
  empty_binding.bindings["generate"] = nullptr;
  auto b = make_requests(*sys_, empty_binding);
  ASSERT_FALSE(b);
  EXPECT_EQ(classify(b.error()), errc::invalid_request);
  request_options taken;
  taken.listen = server_->advertised_address();
  auto c = make_requests(*sys_, taken);
  ASSERT_FALSE(c);
  EXPECT_EQ(classify(c.error()), errc::unavailable) << describe(c.error());
}

TEST_F(capnp_requests_test, shutdown_fails_calls_in_flight_and_ends_proxies) {
  auto hdl = serve_holding(address());
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{*sys_};
  self->monitor(hdl);
  self->send(hdl, ct_call_atom::value, request_id{9}, uint32_t{10},
             caf::actor_cast<stream_sink_actor<std::string>>(self));
  bool got_item = false;
  self->receive([&got_item](stream_item_atom, request_id, std::string&) { got_item = true; },
                caf::after(5s) >> [] { ADD_FAILURE() << "the stream did not start"; });
  ASSERT_TRUE(got_item);
  client_->shutdown();
  client_->shutdown(); // idempotent
  std::optional<errc> failed;
  std::optional<errc> down;
  while (!failed || !down) {
    bool timed_out = false;
    self->receive([&failed](stream_fail_atom, request_id, caf::error& e) { failed = classify(e); },
                  [&down](caf::down_msg& dm) { down = classify(dm.reason); },
                  caf::after(2s) >> [&timed_out] { timed_out = true; });
    ASSERT_FALSE(timed_out) << "shutdown must fail the stream and end the proxy";
  }
  EXPECT_EQ(failed, errc::disconnected);
  EXPECT_EQ(down, errc::disconnected);
  auto again = client_->connect(address());
  ASSERT_FALSE(again);
  EXPECT_EQ(classify(again.error()), errc::unavailable);
  EXPECT_EQ(classify(client_->serve(address(3), caf::actor_cast<caf::actor>(
                                                  keep(sys_->spawn(holding_handler, log_))))),
            errc::unavailable);
  EXPECT_TRUE(log_->has(9, cancel_kind::kill) || testing::wait_until([this] {
                return log_->has(9, cancel_kind::kill);
              }, 2000ms))
    << "the callee's handler hears the kill";
}

} // namespace
} // namespace dynamo::capnp
