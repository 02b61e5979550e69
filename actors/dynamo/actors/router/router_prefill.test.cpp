// The router's prefill pick (disaggregated serving): fake prefill instances are registered in
// discovery under a component the router has a prefill edge to; a fake decode worker records
// which prefill worker each forwarded request names.
#include "dynamo/actors/router/router.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dynamo::actors {
namespace {

using dynamo::testing::ask_stats;
using dynamo::testing::actor_timeout;
using dynamo::testing::announced_fake;
using dynamo::testing::await_reply;
using dynamo::testing::fake_ending;
using dynamo::testing::fake_generate_log;
using dynamo::testing::fake_generate_script;
using dynamo::testing::make_request;
using dynamo::testing::receive_stream;
using dynamo::testing::text_chunk;
using dynamo::testing::wait_until;

/// A fake prefill replica: a discovery record only (the router never calls it).
struct fake_prefill {
  instance_id instance;
  lease_id lease = 0;
};

class prefill_fixture : public dynamo::testing::actor_test {
protected:
  /// Spawns a router with `policy` that sends to component "worker" and, with `prefill_edge`,
  /// picks prefill workers of component "prefill".
  router_actor start_router(const std::string& policy, bool prefill_edge = true) {
    std::vector<edge_target> targets{{"worker", "generate", "generate"}};
    if (prefill_edge)
      targets.push_back({"prefill", prefill_api::name, prefill_api::name});
    auto ctx = dynamo::testing::make_context(rt(), "router", std::move(targets));
    router_config cfg;
    cfg.policy = policy;
    cfg.seed = 5;
    cfg.tick_interval = std::chrono::milliseconds{20};
    return caf::actor_cast<router_actor>(own(router::spawn(ctx, cfg)));
  }

  /// Announces a fake decode worker (with the KV facts policy "kv" checks).
  announced_fake add_worker(std::string label, fake_generate_script script) {
    auto fake = dynamo::testing::announce_fake(rt(), "worker", std::move(label), std::move(script),
                                               log_,
                                               {{"endpoints", "generate"},
                                                {"model", "mock-model"},
                                                {"kv_block_size", "16"},
                                                {"total_kv_blocks", "1000"},
                                                {"hash_scheme", expected_hash_scheme()}});
    own(fake.handle);
    return fake;
  }

  /// Registers a prefill replica of component "prefill" with `metadata`.
  fake_prefill add_prefill(std::map<std::string, std::string> metadata
                           = {{"endpoints", "prefill"}}) {
    fake_prefill p{rt().next_instance_id(), 0};
    discovery_record rec{component_id{rt().ns(), "prefill"}, p.instance, std::move(metadata)};
    auto lease = rt().discovery().register_instance(std::move(rec), lease_options{});
    if (lease)
      p.lease = *lease;
    else
      ADD_FAILURE() << "cannot register a fake prefill replica: " << describe(lease.error());
    prefills_.push_back(p);
    return p;
  }

  /// The lease of fake prefill replica `instance` (0 if unknown).
  lease_id lease_of(uint64_t instance) const {
    for (const auto& p : prefills_)
      if (p.instance.value == instance)
        return p.lease;
    return 0;
  }

  router_stats stats(const router_actor& router) {
    return ask_stats<router_stats>(self(), router);
  }

  ::testing::AssertionResult await_stats(const router_actor& router,
                                         const std::function<bool(const router_stats&)>& pred,
                                         const char* what) {
    if (wait_until([&] { return pred(stats(router)); }, actor_timeout))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "timed out waiting for " << what;
  }

  /// Waits until the fakes have received `n` requests in total.
  ::testing::AssertionResult await_calls(size_t n) {
    if (wait_until([&] { return log_->calls().size() >= n; }, actor_timeout))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "timed out waiting for " << n << " forwarded requests";
  }

  /// The prefill worker named by forwarded request `id` (a test failure if it never arrived).
  uint64_t prefill_of(request_id id) {
    for (const auto& c : log_->calls())
      if (c.request.id == id)
        return c.request.prefill_worker;
    ADD_FAILURE() << "request " << id << " never reached a worker";
    return 0;
  }

  /// Sends `req` through `router` (whose worker answers at once); expects a clean end.
  void expect_answered(const router_actor& router, generate_request req) {
    auto id = req.id;
    auto handle = self()->request(router, actor_timeout, generate_atom::value, std::move(req),
                                  sink());
    EXPECT_TRUE(receive_stream(self(), id).ended);
    auto reply = await_reply(handle);
    EXPECT_TRUE(reply.summary) << describe(reply.error);
  }

  /// Ends held request `id` at `worker` (stop_generating) and reads its stream and reply.
  template <class Handle>
  void finish(const announced_fake& worker, request_id id, Handle& handle) {
    self()->send(worker.handle, cancel_atom::value, id, cancel_kind::stop_generating);
    EXPECT_TRUE(receive_stream(self(), id).ended);
    auto reply = await_reply(handle);
    EXPECT_TRUE(reply.summary) << describe(reply.error);
  }

  std::shared_ptr<fake_generate_log> log_ = std::make_shared<fake_generate_log>();
  std::vector<fake_prefill> prefills_;
};

class router_prefill_test : public prefill_fixture,
                            public ::testing::WithParamInterface<std::string> {};

fake_generate_script holding() {
  return {{}, fake_ending::hold, {}, 0};
}

fake_generate_script answering() {
  return {{text_chunk("x", engine::finish_reason::length)}, fake_ending::end, {}, 0};
}

TEST_P(router_prefill_test, spreads_by_open_requests_and_drops_a_vanished_instance) {
  auto router = start_router(GetParam());
  auto worker = add_worker("decode", holding());
  add_prefill();
  add_prefill();
  ASSERT_TRUE(await_stats(
    router,
    [](const router_stats& s) { return s.workers.size() == 1 && s.prefill_workers.size() == 2; },
    "one decode worker and two prefill workers"));
  auto known = stats(router).prefill_workers;
  const uint64_t first = known[0];
  const uint64_t second = known[1];

  using handle_type = decltype(self()->request(router, actor_timeout, generate_atom::value,
                                               make_request(1), sink()));
  std::map<request_id, handle_type> open;
  auto send = [&](request_id id) {
    open.emplace(id, self()->request(router, actor_timeout, generate_atom::value,
                                     make_request(id), sink()));
  };
  for (request_id id = 1; id <= 4; ++id)
    send(id);
  ASSERT_TRUE(await_calls(4));
  EXPECT_EQ(prefill_of(1), first) << "equal load: the rotation starts at the first instance";
  EXPECT_EQ(prefill_of(2), second);
  EXPECT_EQ(prefill_of(3), first);
  EXPECT_EQ(prefill_of(4), second);
  auto s = stats(router);
  EXPECT_EQ(s.prefill_active, (std::vector<uint32_t>{2, 2}));
  EXPECT_EQ(s.prefill_assigned, (std::vector<uint64_t>{2, 2}));

  // The first instance's requests finish: it is the less loaded one for the next two.
  finish(worker, 1, open.at(1));
  finish(worker, 3, open.at(3));
  ASSERT_TRUE(await_stats(
    router, [](const router_stats& x) { return x.prefill_active == std::vector<uint32_t>{0, 2}; },
    "the finished requests to leave the first prefill worker's count"));
  send(5);
  send(6);
  ASSERT_TRUE(await_calls(6));
  EXPECT_EQ(prefill_of(5), first);
  EXPECT_EQ(prefill_of(6), first);
  EXPECT_EQ(stats(router).prefill_assigned, (std::vector<uint64_t>{4, 2}));

  // The first instance leaves discovery: it is never named again, though it is less loaded.
  ASSERT_FALSE(rt().discovery().revoke(lease_of(first)));
  ASSERT_TRUE(await_stats(
    router,
    [second](const router_stats& x) { return x.prefill_workers == std::vector<uint64_t>{second}; },
    "the vanished prefill worker to leave the router's view"));
  for (request_id id = 7; id <= 9; ++id)
    send(id);
  ASSERT_TRUE(await_calls(9));
  for (request_id id = 7; id <= 9; ++id)
    EXPECT_EQ(prefill_of(id), second) << "request " << id;
  EXPECT_EQ(stats(router).prefill_active, (std::vector<uint32_t>{5}));
  for (request_id id : {2, 4, 5, 6, 7, 8, 9})
    finish(worker, id, open.at(id));
  ASSERT_TRUE(await_stats(
    router, [](const router_stats& x) { return x.prefill_active == std::vector<uint32_t>{0}; },
    "every assignment to be released once its request finished"));
}

TEST_F(prefill_fixture, without_prefill_edges_requests_pass_unchanged) {
  auto router = start_router("round-robin", false);
  add_worker("decode", answering());
  add_prefill();
  ASSERT_TRUE(await_stats(
    router, [](const router_stats& s) { return s.workers.size() == 1; }, "the decode worker"));
  auto req = make_request(1);
  req.prefill_worker = 42;
  expect_answered(router, std::move(req));
  EXPECT_EQ(prefill_of(1), 42u) << "a router without prefill edges leaves the field alone";
  expect_answered(router, make_request(2));
  EXPECT_EQ(prefill_of(2), 0u);
  EXPECT_TRUE(stats(router).prefill_workers.empty())
    << "prefill replicas without an edge are not watched";
}

TEST_F(prefill_fixture, without_a_live_prefill_worker_the_request_names_none) {
  auto router = start_router("round-robin");
  add_worker("decode", answering());
  ASSERT_TRUE(await_stats(
    router, [](const router_stats& s) { return s.workers.size() == 1; }, "the decode worker"));
  auto req = make_request(1);
  req.prefill_worker = 42;
  expect_answered(router, std::move(req));
  EXPECT_EQ(prefill_of(1), 0u) << "the decode worker decides (or prefills locally)";
}

TEST_F(prefill_fixture, a_prefill_worker_with_malformed_registration_is_skipped) {
  auto router = start_router("round-robin");
  add_worker("decode", answering());
  add_prefill({{"endpoints", "prefill@x"}});
  auto good = add_prefill();
  // Delivered in registration order: once the good one is known, the bad one was skipped.
  ASSERT_TRUE(await_stats(
    router, [](const router_stats& s) { return s.workers.size() == 1 && !s.prefill_workers.empty(); },
    "the decode worker and a prefill worker"));
  EXPECT_EQ(stats(router).prefill_workers, (std::vector<uint64_t>{good.instance.value}));
  for (request_id id = 1; id <= 2; ++id) {
    expect_answered(router, make_request(id));
    EXPECT_EQ(prefill_of(id), good.instance.value);
  }
  // A known prefill worker whose record turns malformed is no longer picked.
  ASSERT_FALSE(rt().discovery().update(good.lease, {{"endpoints", "prefill@x"}}));
  ASSERT_TRUE(await_stats(
    router, [](const router_stats& s) { return s.prefill_workers.empty(); },
    "the malformed prefill worker to leave the router's view"));
  expect_answered(router, make_request(3));
  EXPECT_EQ(prefill_of(3), 0u);
  EXPECT_EQ(stats(router).prefill_workers.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(policies, router_prefill_test,
                         ::testing::Values(std::string{"round-robin"}, std::string{"kv"}));

} // namespace
} // namespace dynamo::actors
