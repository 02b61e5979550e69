// The request-plane contract: what every request backend must guarantee, exercised through a
// small test interface (unary echo, a streamed call, cancellation). A backend's test
// executable instantiates it with a traits type:
//
//   struct my_traits {
//     // The plane on which handlers are served.
//     static std::unique_ptr<dynamo::request_plane> make(caf::actor_system& sys);
//     // Optional: adjust the actor system (load modules) before it starts.
//     static void configure(caf::actor_system_config& cfg);
//     // Optional: a separate client plane; connect() then runs on it.
//     static std::unique_ptr<dynamo::request_plane> make_client(caf::actor_system& sys,
//                                                               dynamo::request_plane& server);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my_backend, requests_contract, ::testing::Types<my_traits>);
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/plane/stream.hpp"
#include "dynamo/testing/contract/common.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_view.hpp>
#include <caf/others.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::testing::contract {

/// Test interface message: reply with the same text.
using ct_echo_atom = caf::atom_constant<caf::atom("ct_echo")>;
/// Test interface message: stream `n` items ("0", "1", ...) to a sink.
using ct_call_atom = caf::atom_constant<caf::atom("ct_call")>;
/// Producer-internal message: emit the next item.
using ct_tick_atom = caf::atom_constant<caf::atom("ct_tick")>;

/// The test interface every request backend must carry.
using contract_actor = caf::typed_actor<
  caf::replies_to<ct_echo_atom, std::string>::with<std::string>,
  caf::reacts_to<ct_call_atom, request_id, uint32_t /*n items*/, stream_sink_actor<std::string>>,
  caf::reacts_to<cancel_atom, request_id, cancel_kind>>;

/// How a test server behaves.
struct contract_server_options {
  /// Delay between two streamed items (0: as fast as possible).
  std::chrono::milliseconds pace{0};
  /// When false, echo requests are never answered.
  bool answer_echo = true;
};

/// What test servers observed; shared with the test. Thread-safe.
struct contract_server_probe {
  std::atomic<int> streams{0};
  std::atomic<int> cancels{0};
  std::atomic<int> streams_cancelled{0};
};

struct contract_producer_state {
  uint32_t next = 0;
};

/// Emits one stream, one item per tick, until done or cancelled. Linked to its server.
inline caf::behavior contract_producer(caf::stateful_actor<contract_producer_state>* self,
                                       request_id rid, uint32_t n,
                                       stream_sink_actor<std::string> sink,
                                       std::chrono::milliseconds pace,
                                       std::shared_ptr<contract_server_probe> probe) {
  self->send(self, ct_tick_atom::value);
  return {
    [self, rid, n, sink, pace](ct_tick_atom) {
      if (self->state.next == n) {
        self->send(sink, stream_end_atom::value, rid);
        self->quit();
        return;
      }
      self->send(sink, stream_item_atom::value, rid, std::to_string(self->state.next++));
      if (pace.count() > 0)
        self->delayed_send(self, pace, ct_tick_atom::value);
      else
        self->send(self, ct_tick_atom::value);
    },
    [self, rid, sink, probe](cancel_atom, request_id, cancel_kind kind) {
      ++probe->streams_cancelled;
      self->send(sink, stream_fail_atom::value, rid,
                 make_error(errc::cancelled, "the caller cancelled the request",
                            std::string{to_string(kind)}));
      self->quit();
    },
  };
}

struct contract_server_state {
  std::map<request_id, cancellable_actor> producers;
  std::vector<caf::typed_response_promise<std::string>> withheld;
};

/// The test server: answers echo, streams calls through linked producers, forwards cancels.
inline contract_actor::behavior_type
contract_server(contract_actor::stateful_pointer<contract_server_state> self,
                contract_server_options opts, std::shared_ptr<contract_server_probe> probe) {
  return {
    [self, opts](ct_echo_atom, std::string& text) -> caf::result<std::string> {
      if (opts.answer_echo)
        return std::move(text);
      auto rp = self->make_response_promise<std::string>();
      self->state.withheld.push_back(rp);
      return rp;
    },
    [self, opts, probe](ct_call_atom, request_id rid, uint32_t n,
                        stream_sink_actor<std::string> sink) {
      ++probe->streams;
      auto producer = self->template spawn<caf::linked>(contract_producer, rid, n,
                                                        std::move(sink), opts.pace, probe);
      self->state.producers[rid] = caf::actor_cast<cancellable_actor>(std::move(producer));
    },
    [self, probe](cancel_atom, request_id rid, cancel_kind kind) {
      ++probe->cancels;
      auto it = self->state.producers.find(rid);
      if (it == self->state.producers.end())
        return;
      self->send(it->second, cancel_atom::value, rid, kind);
      self->state.producers.erase(it);
    },
  };
}

/// What a caller saw of one stream.
struct stream_outcome {
  std::vector<std::string> items;
  bool ended = false;
  caf::error failure;
  bool timed_out = false;
};

template <class Traits>
class requests_contract : public ::testing::Test {
protected:
  void SetUp() override {
    cfg_.set("scheduler.max-threads", 2);
    if constexpr (requires { Traits::configure(cfg_); })
      Traits::configure(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    plane_ = Traits::make(*sys_);
    ASSERT_NE(plane_, nullptr);
    if constexpr (requires { Traits::make_client(*sys_, *plane_); }) {
      client_ = Traits::make_client(*sys_, *plane_);
      ASSERT_NE(client_, nullptr);
    }
    ns_ = "ct-" + unique_token();
  }

  void TearDown() override {
    for (auto& srv : servers_)
      caf::anon_send_exit(srv, caf::exit_reason::kill);
    servers_.clear();
    client_.reset();
    plane_.reset();
    sys_.reset();
  }

  /// The plane handlers are served on.
  request_plane& server_side() {
    return *plane_;
  }

  /// The plane callers connect through.
  request_plane& client_side() {
    return client_ ? *client_ : *plane_;
  }

  caf::actor_system& sys() {
    return *sys_;
  }

  /// An address private to this test.
  instance_endpoint address(std::string endpoint = "generate", uint64_t instance = 1) const {
    return instance_endpoint{endpoint_id{ns_, "worker", std::move(endpoint)},
                             instance_id{instance}};
  }

  /// Spawns a test server (killed in TearDown).
  caf::actor spawn_server(contract_server_options opts = {}) {
    auto hdl = caf::actor_cast<caf::actor>(sys_->spawn(contract_server, opts, probe_));
    servers_.push_back(hdl);
    return hdl;
  }

  /// Serves a new test server at `addr` and connects to it through the client side.
  std::pair<caf::actor, contract_actor> serve_and_connect(const instance_endpoint& addr,
                                                          contract_server_options opts = {}) {
    auto srv = spawn_server(opts);
    EXPECT_TRUE(ok(server_side().serve(addr, srv)));
    auto hdl = connect_as<contract_actor>(client_side(), addr);
    EXPECT_TRUE(ok(hdl));
    return {srv, hdl ? *hdl : contract_actor{}};
  }

  /// The scoped actor as a stream sink.
  static stream_sink_actor<std::string> sink_of(caf::scoped_actor& self) {
    return caf::actor_cast<stream_sink_actor<std::string>>(self);
  }

  /// Receives stream `rid` until end, failure, or `idle` without a message. `on_item` runs
  /// after each item with the number of items so far.
  static stream_outcome drain(caf::scoped_actor& self, request_id rid,
                              std::chrono::milliseconds idle = 2s,
                              const std::function<void(size_t)>& on_item = {}) {
    stream_outcome out;
    while (!out.ended && !out.failure && !out.timed_out) {
      self->receive(
        [&out, &on_item, rid](stream_item_atom, request_id r, std::string& item) {
          EXPECT_EQ(r, rid);
          out.items.push_back(std::move(item));
          if (on_item)
            on_item(out.items.size());
        },
        [&out, rid](stream_end_atom, request_id r) {
          EXPECT_EQ(r, rid);
          out.ended = true;
        },
        [&out, rid](stream_fail_atom, request_id r, caf::error& err) {
          EXPECT_EQ(r, rid);
          out.failure = std::move(err);
        },
        caf::after(idle) >> [&out] { out.timed_out = true; });
    }
    return out;
  }

  /// Expects no message for `quiet`.
  static void expect_silence(caf::scoped_actor& self, std::chrono::milliseconds quiet,
                             const char* what) {
    self->receive(
      [what](stream_item_atom, request_id, std::string& item) {
        ADD_FAILURE() << what << ": unexpected item " << item;
      },
      caf::others >> [what](caf::message_view& msg) -> caf::result<caf::message> {
        ADD_FAILURE() << what << ": unexpected message " << caf::to_string(msg.content());
        return caf::message{};
      },
      caf::after(quiet) >> [] {});
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<request_plane> plane_;
  std::unique_ptr<request_plane> client_;
  std::vector<caf::actor> servers_;
  std::shared_ptr<contract_server_probe> probe_ = std::make_shared<contract_server_probe>();
  std::string ns_;
};

TYPED_TEST_SUITE_P(requests_contract);

TYPED_TEST_P(requests_contract, serve_connect_and_unary_echo) {
  auto addr = this->address();
  auto [srv, hdl] = this->serve_and_connect(addr);
  ASSERT_TRUE(hdl);
  auto served = this->server_side().served();
  EXPECT_NE(std::find(served.begin(), served.end(), addr), served.end());
  caf::scoped_actor self{this->sys()};
  std::optional<std::string> reply;
  self->request(hdl, 2s, ct_echo_atom::value, std::string{"hello"})
    .receive([&reply](std::string& r) { reply = std::move(r); },
             [](caf::error& err) { ADD_FAILURE() << "echo failed: " << describe(err); });
  EXPECT_EQ(reply, "hello");
}

TYPED_TEST_P(requests_contract, stream_items_arrive_in_order_then_end) {
  constexpr uint32_t n = 100;
  auto addr = this->address();
  auto [srv, hdl] = this->serve_and_connect(addr);
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{this->sys()};
  request_id rid = 7;
  self->send(hdl, ct_call_atom::value, rid, n, this->sink_of(self));
  auto out = this->drain(self, rid);
  ASSERT_FALSE(out.timed_out) << "the stream stalled after " << out.items.size() << " items";
  EXPECT_FALSE(out.failure) << describe(out.failure);
  EXPECT_TRUE(out.ended);
  ASSERT_EQ(out.items.size(), n);
  for (uint32_t i = 0; i < n; ++i)
    EXPECT_EQ(out.items[i], std::to_string(i)) << "items arrive in send order";
  this->expect_silence(self, 50ms, "nothing may follow s_end");
}

TYPED_TEST_P(requests_contract, cancel_mid_stream_stops_the_server) {
  constexpr uint32_t n = 100000;
  auto addr = this->address();
  auto [srv, hdl] = this->serve_and_connect(addr, {5ms, true});
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{this->sys()};
  request_id rid = 11;
  self->send(hdl, ct_call_atom::value, rid, n, this->sink_of(self));
  auto callee = hdl;
  auto* me = &self;
  auto out = this->drain(self, rid, 2s, [callee, me, rid](size_t count) {
    if (count == 3)
      (*me)->send(callee, cancel_atom::value, rid, cancel_kind::kill);
  });
  ASSERT_FALSE(out.timed_out) << "no s_fail after cancel";
  EXPECT_FALSE(out.ended);
  EXPECT_EQ(classify(out.failure), errc::cancelled) << describe(out.failure);
  EXPECT_LT(out.items.size(), n);
  EXPECT_GE(out.items.size(), 3u);
  EXPECT_EQ(this->probe_->cancels.load(), 1) << "the server observed the cancel";
  EXPECT_EQ(this->probe_->streams_cancelled.load(), 1);
  this->expect_silence(self, 100ms, "nothing may follow s_fail");
}

TYPED_TEST_P(requests_contract, request_to_a_silent_handler_times_out) {
  auto addr = this->address();
  auto [srv, hdl] = this->serve_and_connect(addr, {0ms, false});
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{this->sys()};
  std::optional<errc> result;
  auto start = std::chrono::steady_clock::now();
  self->request(hdl, 100ms, ct_echo_atom::value, std::string{"anyone?"})
    .receive([](std::string&) { ADD_FAILURE() << "a silent handler answered"; },
             [&result](caf::error& err) { result = classify(err); });
  EXPECT_EQ(result, errc::deadline_exceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TYPED_TEST_P(requests_contract, killed_handler_is_observed_as_disconnected) {
  constexpr uint32_t n = 100000;
  auto addr = this->address();
  auto [srv, hdl] = this->serve_and_connect(addr, {5ms, true});
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{this->sys()};
  self->monitor(hdl);
  request_id rid = 13;
  self->send(hdl, ct_call_atom::value, rid, n, this->sink_of(self));
  size_t items = 0;
  while (items < 2) {
    bool stalled = false;
    self->receive([&items](stream_item_atom, request_id, std::string&) { ++items; },
                  caf::after(2s) >> [&stalled] { stalled = true; });
    ASSERT_FALSE(stalled) << "the stream did not start";
  }
  auto killed_at = std::chrono::steady_clock::now();
  caf::anon_send_exit(srv, caf::exit_reason::kill);
  std::optional<errc> observed;
  bool timed_out = false;
  while (!observed && !timed_out) {
    self->receive([](stream_item_atom, request_id, std::string&) {},
                  [](stream_end_atom, request_id) { ADD_FAILURE() << "a killed stream ended"; },
                  [](stream_fail_atom, request_id, caf::error&) {},
                  [&observed](caf::down_msg& dm) { observed = classify(dm.reason); },
                  caf::after(1s) >> [&timed_out] { timed_out = true; });
  }
  ASSERT_FALSE(timed_out) << "the caller did not observe the handler's death within 1 s";
  EXPECT_EQ(observed, errc::disconnected);
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 1s);
}

TYPED_TEST_P(requests_contract, connect_to_an_unknown_address_is_not_found) {
  auto hdl = this->client_side().connect(this->address("nothing", 42));
  ASSERT_FALSE(hdl);
  EXPECT_EQ(classify(hdl.error()), errc::not_found) << describe(hdl.error());
  auto bad = this->client_side().connect(
    instance_endpoint{endpoint_id{"bad ns", "worker", "generate"}, instance_id{1}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), errc::invalid_request);
}

TYPED_TEST_P(requests_contract, serving_an_address_twice_is_invalid_request) {
  auto addr = this->address();
  auto first = this->spawn_server();
  auto second = this->spawn_server();
  ASSERT_TRUE(ok(this->server_side().serve(addr, first)));
  EXPECT_EQ(classify(this->server_side().serve(addr, first)), errc::invalid_request);
  EXPECT_EQ(classify(this->server_side().serve(addr, second)), errc::invalid_request);
  EXPECT_EQ(classify(this->server_side().serve(this->address("other"), caf::actor{})),
            errc::invalid_request)
    << "an invalid handle cannot be served";
  EXPECT_EQ(classify(this->server_side().serve(
              instance_endpoint{endpoint_id{this->ns_, "worker", "a.b"}, instance_id{1}}, second)),
            errc::invalid_request)
    << "an invalid address cannot be served";
  this->server_side().withdraw(addr);
  EXPECT_TRUE(ok(this->server_side().serve(addr, second))) << "a withdrawn address is free";
}

TYPED_TEST_P(requests_contract, terminated_handler_is_withdrawn_automatically) {
  auto addr = this->address();
  auto [srv, hdl] = this->serve_and_connect(addr);
  ASSERT_TRUE(hdl);
  caf::anon_send_exit(srv, caf::exit_reason::kill);
  auto gone = [this, &addr] {
    auto r = this->client_side().connect(addr);
    return !r && classify(r.error()) == errc::not_found;
  };
  DYNAMO_EXPECT_EVENTUALLY(gone(), 2000ms,
                           "connect() reports not_found once the served actor terminated");
  auto served = this->server_side().served();
  EXPECT_EQ(std::find(served.begin(), served.end(), addr), served.end());
  EXPECT_TRUE(ok(this->server_side().serve(addr, this->spawn_server())))
    << "the address is free again";
}

TYPED_TEST_P(requests_contract, withdrawn_handler_death_does_not_touch_a_new_registration) {
  auto addr = this->address();
  auto old_srv = this->spawn_server();
  ASSERT_TRUE(ok(this->server_side().serve(addr, old_srv)));
  this->server_side().withdraw(addr);
  EXPECT_FALSE(this->client_side().connect(addr)) << "a withdrawn address is not connectable";
  this->server_side().withdraw(addr); // a no-op
  auto [new_srv, hdl] = this->serve_and_connect(addr);
  ASSERT_TRUE(hdl);
  caf::scoped_actor self{this->sys()};
  self->monitor(old_srv);
  caf::anon_send_exit(old_srv, caf::exit_reason::kill);
  bool down = false;
  self->receive([&down](caf::down_msg&) { down = true; },
                caf::after(2s) >> [] { ADD_FAILURE() << "the old server did not terminate"; });
  ASSERT_TRUE(down);
  auto again = connect_as<contract_actor>(this->client_side(), addr);
  ASSERT_TRUE(ok(again)) << "the old actor's death must not withdraw the new registration";
  std::optional<std::string> reply;
  self->request(*again, 2s, ct_echo_atom::value, std::string{"still here"})
    .receive([&reply](std::string& r) { reply = std::move(r); },
             [](caf::error& err) { ADD_FAILURE() << describe(err); });
  EXPECT_EQ(reply, "still here");
}

REGISTER_TYPED_TEST_SUITE_P(requests_contract, serve_connect_and_unary_echo,
                            stream_items_arrive_in_order_then_end,
                            cancel_mid_stream_stops_the_server,
                            request_to_a_silent_handler_times_out,
                            killed_handler_is_observed_as_disconnected,
                            connect_to_an_unknown_address_is_not_found,
                            serving_an_address_twice_is_invalid_request,
                            terminated_handler_is_withdrawn_automatically,
                            withdrawn_handler_death_does_not_touch_a_new_registration);

} // namespace dynamo::testing::contract
