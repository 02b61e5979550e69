// Discovery turned into actor messages: peer sets, announce() and watch_peers() against the
// in-process planes of a real runtime, with fake generate components as peers.
#include "dynamo/actors/peers.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/inproc_requests.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/serving_graph.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace dynamo::actors {
namespace {

using dynamo::testing::actor_timeout;
using dynamo::testing::await_reply;
using dynamo::testing::fake_ending;
using dynamo::testing::fake_generate_log;
using dynamo::testing::make_context;
using dynamo::testing::make_request;
using dynamo::testing::receive_stream;
using dynamo::testing::spawn_fake_generate;
using dynamo::testing::text_chunk;
using dynamo::testing::wait_until;

dynamo::testing::fake_generate_script answering() {
  return {{text_chunk("ok", engine::finish_reason::length)}, fake_ending::end};
}

class peers_test : public dynamo::testing::actor_test {
protected:
  /// Spawns a fake and serves it at `<ns>.<component>.generate/<instance>` (no discovery).
  instance_id serve_fake(const std::string& component, const std::string& label) {
    auto ctx = make_context(rt(), component);
    auto fake = own(spawn_fake_generate(rt().system(), label, answering(), log_));
    auto err = rt().requests().serve(ctx.address("generate"), caf::actor_cast<caf::actor>(fake));
    EXPECT_FALSE(err) << describe(err);
    return ctx.instance;
  }

  /// Registers an instance of `component` in discovery.
  std::pair<instance_id, lease_id> register_record(const std::string& component,
                                                   std::map<std::string, std::string> metadata) {
    discovery_record rec{{rt().ns(), component}, rt().next_instance_id(), std::move(metadata)};
    auto lease = rt().discovery().register_instance(rec, lease_options{});
    EXPECT_TRUE(lease) << describe(lease.error());
    return {rec.instance, lease ? *lease : lease_id{0}};
  }

  /// Receives one peer change on the test's actor (nullopt and a failure on timeout).
  std::optional<peer_change> next_change() {
    std::optional<peer_change> result;
    self()->receive(
      [&result](peer_atom, peer_change& change) { result = std::move(change); },
      caf::after(actor_timeout) >> [] { ADD_FAILURE() << "timed out waiting for a peer change"; });
    return result;
  }

  std::shared_ptr<fake_generate_log> log_ = std::make_shared<fake_generate_log>();
};

TEST_F(peers_test, peer_set_applies_puts_updates_and_removals) {
  auto id1 = serve_fake("worker", "one");
  auto id2 = serve_fake("worker", "two");
  peer_set<generate_actor> peers;
  auto& plane = rt().requests();
  const auto& ns = rt().ns();
  EXPECT_TRUE(peers.empty());
  EXPECT_FALSE(peers.apply({true, "worker", id1.value, {{"k", "1"}}}, plane, ns, "generate"));
  EXPECT_FALSE(peers.apply({true, "worker", id2.value, {}}, plane, ns, "generate"));
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers.entries()[0].instance, id1);
  EXPECT_EQ(peers.entries()[1].instance, id2);
  EXPECT_EQ(peers.entries()[0].component, "worker");
  EXPECT_EQ(peers.entries()[0].metadata.at("k"), "1");
  // A second put for a known instance updates its metadata in place.
  EXPECT_FALSE(peers.apply({true, "worker", id1.value, {{"k", "2"}}}, plane, ns, "generate"));
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers.entries()[0].instance, id1);
  EXPECT_EQ(peers.entries()[0].metadata.at("k"), "2");
  // An instance that serves nothing is reported and skipped.
  auto missing = rt().next_instance_id();
  auto err = peers.apply({true, "worker", missing.value, {}}, plane, ns, "generate");
  EXPECT_EQ(classify(err), errc::not_found) << describe(err);
  EXPECT_EQ(peers.size(), 2u);
  // The handles reach the peers through their typed interface.
  auto handle = self()->request(peers.entries()[1].handle, actor_timeout, generate_atom::value,
                                make_request(7), sink());
  EXPECT_TRUE(receive_stream(self(), 7).ended);
  EXPECT_TRUE(await_reply(handle).summary);
  EXPECT_EQ(log_->receiver_of(7), "two");
  // Removals, including of an instance that is not there.
  EXPECT_FALSE(peers.apply({false, "worker", id1.value, {}}, plane, ns, "generate"));
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers.entries()[0].instance, id2);
  EXPECT_FALSE(peers.apply({false, "worker", id1.value, {}}, plane, ns, "generate"));
  EXPECT_EQ(peers.size(), 1u);
  EXPECT_FALSE(peers.apply({false, "worker", id2.value, {}}, plane, ns, "generate"));
  EXPECT_TRUE(peers.empty());
}

TEST_F(peers_test, announce_registers_and_serves_until_the_actor_terminates) {
  auto ctx = make_context(rt(), "worker");
  auto fake = spawn_fake_generate(rt().system(), "announced", answering(), log_);
  auto actor = caf::actor_cast<caf::actor>(fake);
  own(actor);
  auto lease = announce(ctx, actor, "generate", {{"model", "m"}});
  ASSERT_TRUE(lease) << describe(lease.error());
  auto recs = rt().discovery().list(rt().ns() + "/worker/");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs.front().instance, ctx.instance);
  EXPECT_EQ(recs.front().metadata.at("model"), "m");
  auto hdl = connect_as<generate_actor>(rt().requests(), ctx.address("generate"));
  ASSERT_TRUE(hdl) << describe(hdl.error());
  auto handle = self()->request(*hdl, actor_timeout, generate_atom::value, make_request(3),
                                sink());
  EXPECT_TRUE(receive_stream(self(), 3).ended);
  EXPECT_TRUE(await_reply(handle).summary);
  EXPECT_EQ(log_->receiver_of(3), "announced");
  // The same endpoint cannot be served twice while its actor lives.
  auto again = announce(ctx, actor, "generate", {{"model", "m"}});
  EXPECT_FALSE(again);
  // Termination withdraws both the registration and the endpoint.
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(await_down(actor));
  EXPECT_TRUE(wait_until(
    [&] {
      return rt().discovery().list(rt().ns() + "/worker/").empty()
             && !rt().requests().connect(ctx.address("generate"));
    },
    actor_timeout))
    << "timed out waiting for the registration and the endpoint to disappear";
  EXPECT_EQ(classify(rt().requests().connect(ctx.address("generate")).error()), errc::not_found);
}

TEST_F(peers_test, watch_peers_delivers_existing_instances_first_then_changes) {
  auto [first, lease1] = register_record("worker", {{"model", "a"}});
  auto [second, lease2] = register_record("prefill", {{"model", "b"}});
  register_record("other", {{"model", "c"}});
  auto ctx = make_context(rt(), "router");
  ASSERT_FALSE(watch_peers(ctx, {"worker", "prefill"}, caf::actor_cast<caf::actor>(self())));
  auto [third, lease3] = register_record("worker", {{"model", "d"}});
  // Per watched component, existing instances come first; the two watches are not ordered
  // with respect to each other.
  std::vector<uint64_t> order;
  for (int i = 0; i < 3; ++i) {
    auto change = next_change();
    ASSERT_TRUE(change);
    EXPECT_TRUE(change->up);
    order.push_back(change->instance);
    if (change->instance == second.value) {
      EXPECT_EQ(change->component, "prefill");
      EXPECT_EQ(change->metadata.at("model"), "b");
    } else {
      EXPECT_EQ(change->component, "worker");
    }
    if (change->instance == first.value) {
      EXPECT_EQ(change->metadata.at("model"), "a");
    }
  }
  EXPECT_EQ(std::set<uint64_t>(order.begin(), order.end()),
            (std::set<uint64_t>{first.value, second.value, third.value}))
    << "exactly the watched components' instances are delivered";
  auto pos = [&order](instance_id id) { return std::find(order.begin(), order.end(), id.value); };
  EXPECT_LT(pos(first), pos(third)) << "the instance registered before the watch comes first";
  ASSERT_FALSE(rt().discovery().revoke(lease1));
  auto removed = next_change();
  ASSERT_TRUE(removed);
  EXPECT_FALSE(removed->up);
  EXPECT_EQ(removed->instance, first.value);
  EXPECT_EQ(removed->component, "worker");
  static_cast<void>(lease2);
  static_cast<void>(lease3);
}

/// The in-process request plane, advertising a fixed network address as a network backend does.
class advertising_requests final : public request_plane {
public:
  advertising_requests(std::unique_ptr<request_plane> inner, std::string address)
    : inner_(std::move(inner)), address_(std::move(address)) {
  }
  std::string name() const override { return "advertising"; }
  caf::error serve(const instance_endpoint& address, caf::actor handler) override {
    return inner_->serve(address, std::move(handler));
  }
  void withdraw(const instance_endpoint& address) override { inner_->withdraw(address); }
  caf::expected<caf::actor> connect(const instance_endpoint& address) override {
    return inner_->connect(address);
  }
  std::vector<instance_endpoint> served() const override { return inner_->served(); }
  std::string advertised_address() const override { return address_; }

private:
  std::unique_ptr<request_plane> inner_;
  std::string address_;
};

TEST(peers_rpc_address, announce_publishes_the_advertised_address) {
  plane_backends backends;
  backends.requests = [](caf::actor_system& sys) -> caf::expected<std::unique_ptr<request_plane>> {
    return std::make_unique<advertising_requests>(make_inproc_requests(sys), "10.1.2.3:4567");
  };
  auto rt = runtime::make(dynamo::testing::serving_graph::test_runtime_config(), backends);
  ASSERT_TRUE(rt) << describe(rt.error());
  auto log = std::make_shared<fake_generate_log>();
  auto ctx = make_context(**rt, "worker");
  auto plain = caf::actor_cast<caf::actor>(
    spawn_fake_generate((*rt)->system(), "plain", answering(), log));
  ASSERT_TRUE(announce(ctx, plain, "generate", {{"model", "m"}, {"rpc_address", "stale:1"}}));
  auto typed_ctx = make_context(**rt, "prefill");
  auto typed = caf::actor_cast<caf::actor>(
    spawn_fake_generate((*rt)->system(), "typed", answering(), log));
  instance_registration reg;
  reg.capacity.model = "m";
  reg.endpoints = {{"generate", 2}, {"kv_pull", 1}};
  ASSERT_TRUE(announce_registration(typed_ctx, typed, "generate", reg));
  auto by_component = [&rt](const std::string& component) {
    auto recs = (*rt)->discovery().list((*rt)->ns() + '/' + component + '/');
    EXPECT_EQ(recs.size(), 1u) << component;
    return recs.empty() ? std::map<std::string, std::string>{} : recs.front().metadata;
  };
  auto plain_meta = by_component("worker");
  EXPECT_EQ(plain_meta["rpc_address"], "10.1.2.3:4567") << "the plane's address wins";
  EXPECT_EQ(plain_meta["model"], "m");
  auto typed_reg = instance_registration::from_metadata(by_component("prefill"));
  ASSERT_TRUE(typed_reg) << describe(typed_reg.error());
  EXPECT_EQ(typed_reg->rpc_address, "10.1.2.3:4567");
  EXPECT_EQ(typed_reg->endpoints, (std::map<std::string, uint32_t>{{"generate", 2}, {"kv_pull", 1}}))
    << "an endpoint the registration names keeps its version";
  caf::anon_send_exit(plain, caf::exit_reason::kill);
  caf::anon_send_exit(typed, caf::exit_reason::kill);
}

TEST_F(peers_test, announce_adds_the_endpoint_and_no_address_in_process) {
  auto ctx = make_context(rt(), "worker");
  auto actor = caf::actor_cast<caf::actor>(
    own(spawn_fake_generate(rt().system(), "typed", answering(), log_)));
  instance_registration reg;
  reg.capacity.model = "m";
  ASSERT_TRUE(announce_registration(ctx, actor, "generate", reg));
  auto recs = rt().discovery().list(rt().ns() + "/worker/");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs.front().metadata,
            (std::map<std::string, std::string>{{"endpoints", "generate@1"}, {"model", "m"}}));
}

TEST(peers_registration, malformed_peer_metadata_yields_nothing) {
  auto log = default_logger("peers-test");
  auto good = peer_registration({true, "worker", 7, {{"model", "m"}, {"kv_block_size", "16"}}},
                                log);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->capacity.model, "m");
  EXPECT_EQ(good->capacity.kv_block_size, 16u);
  EXPECT_FALSE(peer_registration({true, "worker", 7, {{"kv_block_size", "sixteen"}}}, log));
  EXPECT_FALSE(peer_registration({true, "worker", 7, {{"endpoints", "generate@0"}}}, log));
}

} // namespace
} // namespace dynamo::actors
