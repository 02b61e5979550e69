// The router tested alone: fake workers with the worker's typed interface are announced in a
// real runtime, the router finds them through discovery, and the test plays client and sink.
#include "dynamo/actors/router/router.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

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

/// Streams one token, ends, and replies a summary.
fake_generate_script answering() {
  return {{text_chunk("x", engine::finish_reason::length)}, fake_ending::end, {}, 0};
}

/// Keeps every request open until it is cancelled.
fake_generate_script holding() {
  return {{}, fake_ending::hold, {}, 0};
}

class router_test : public dynamo::testing::actor_test {
protected:
  /// Spawns a router that sends to component "worker" with `policy`.
  router_actor start_router(std::string policy = "round-robin") {
    auto ctx = dynamo::testing::make_context(rt(), "router",
                                             {{"worker", "generate", "generate"}});
    router_config cfg;
    cfg.policy = std::move(policy);
    cfg.seed = 7;
    return caf::actor_cast<router_actor>(own(router::spawn(ctx, cfg)));
  }

  /// Announces a fake worker named `label` under component "worker".
  announced_fake add_worker(std::string label, fake_generate_script script) {
    auto fake = dynamo::testing::announce_fake(
      rt(), "worker", std::move(label), std::move(script), log_,
      {{"endpoints", "generate"}, {"model", "mock-model"}});
    own(fake.handle);
    return fake;
  }

  /// The router's stats (a default value and a test failure if it does not answer).
  router_stats stats(const router_actor& router) {
    return ask_stats<router_stats>(self(), router);
  }

  /// Waits until the router knows exactly `n` workers.
  ::testing::AssertionResult await_workers(const router_actor& router, size_t n) {
    if (wait_until([&] { return stats(router).workers.size() == n; }, actor_timeout))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "timed out waiting for the router to know " << n << " worker(s)";
  }

  /// Waits until the fakes have received `n` requests in total.
  ::testing::AssertionResult await_calls(size_t n) {
    if (wait_until([&] { return log_->calls().size() >= n; }, actor_timeout))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "timed out waiting for the fakes to receive " << n << " request(s)";
  }

  /// The router's active request count for `worker` (-1 if it does not know it).
  int64_t active_of(const router_actor& router, const announced_fake& worker) {
    auto s = stats(router);
    for (size_t i = 0; i < s.workers.size(); ++i)
      if (s.workers[i] == worker.ctx.instance.value)
        return s.active_requests[i];
    return -1;
  }

  /// Sends request `id` through `router` and reads its stream and reply.
  std::pair<dynamo::testing::stream_result, dynamo::testing::generate_reply>
  generate(const router_actor& router, request_id id) {
    auto handle = self()->request(router, actor_timeout, generate_atom::value, make_request(id),
                                  sink());
    auto stream = receive_stream(self(), id);
    return {std::move(stream), await_reply(handle)};
  }

  std::shared_ptr<fake_generate_log> log_ = std::make_shared<fake_generate_log>();
};

TEST_F(router_test, round_robin_alternates_between_two_workers) {
  auto router = start_router("round-robin");
  auto a = add_worker("a", answering());
  auto b = add_worker("b", answering());
  ASSERT_TRUE(await_workers(router, 2));
  for (request_id id = 1; id <= 4; ++id) {
    auto [stream, reply] = generate(router, id);
    EXPECT_TRUE(stream.ended);
    ASSERT_TRUE(reply.summary) << describe(reply.error);
    auto expected = log_->receiver_of(id) == "a" ? a.ctx.instance : b.ctx.instance;
    EXPECT_EQ(reply.summary->worker_instance, expected.value);
    EXPECT_EQ(reply.summary->completion_tokens, 1u);
  }
  auto first = log_->receiver_of(1);
  auto second = log_->receiver_of(2);
  EXPECT_NE(first, second) << "consecutive requests must go to different workers";
  EXPECT_EQ(log_->receiver_of(3), first);
  EXPECT_EQ(log_->receiver_of(4), second);
  EXPECT_EQ(log_->calls_to("a"), 2u);
  EXPECT_EQ(log_->calls_to("b"), 2u);
}

TEST_F(router_test, stats_report_workers_and_load_that_drops_after_replies) {
  auto router = start_router("round-robin");
  auto a = add_worker("a", answering());
  auto b = add_worker("b", answering());
  ASSERT_TRUE(await_workers(router, 2));
  for (request_id id = 1; id <= 3; ++id)
    ASSERT_TRUE(generate(router, id).second.summary);
  auto s = stats(router);
  EXPECT_EQ(s.policy, "round-robin");
  std::vector<uint64_t> expected{a.ctx.instance.value, b.ctx.instance.value};
  auto workers = s.workers;
  std::sort(workers.begin(), workers.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(workers, expected);
  EXPECT_EQ(s.active_requests, (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(s.routed, 3u);
  EXPECT_EQ(s.rejected, 0u);
}

TEST_F(router_test, least_loaded_sends_to_the_worker_with_fewer_requests) {
  auto router = start_router("least-loaded");
  auto a = add_worker("a", holding());
  auto b = add_worker("b", holding());
  ASSERT_TRUE(await_workers(router, 2));
  auto h1 = self()->request(router, actor_timeout, generate_atom::value, make_request(1), sink());
  ASSERT_TRUE(await_calls(1));
  auto h2 = self()->request(router, actor_timeout, generate_atom::value, make_request(2), sink());
  ASSERT_TRUE(await_calls(2));
  auto first = log_->receiver_of(1);
  ASSERT_NE(log_->receiver_of(2), first) << "the idle worker must get the second request";
  const auto& busy = first == "a" ? a : b;
  const auto& other = first == "a" ? b : a;
  EXPECT_EQ(active_of(router, busy), 1);
  EXPECT_EQ(active_of(router, other), 1);
  // Request 1 finishes successfully: its worker is the less loaded one now.
  self()->send(busy.handle, cancel_atom::value, request_id{1}, cancel_kind::stop_generating);
  auto s1 = receive_stream(self(), 1);
  EXPECT_TRUE(s1.ended);
  auto r1 = await_reply(h1);
  ASSERT_TRUE(r1.summary) << describe(r1.error);
  EXPECT_EQ(r1.summary->finish, engine::finish_reason::cancelled);
  EXPECT_EQ(active_of(router, busy), 0) << "load must be released on success";
  auto h3 = self()->request(router, actor_timeout, generate_atom::value, make_request(3), sink());
  ASSERT_TRUE(await_calls(3));
  EXPECT_EQ(log_->receiver_of(3), first);
  // Requests 2 and 3 fail: the load is released on errors too.
  auto kill = [this](const announced_fake& worker, request_id id, auto& handle) {
    self()->send(worker.handle, cancel_atom::value, id, cancel_kind::kill);
    auto s = receive_stream(self(), id);
    ASSERT_TRUE(s.failure);
    EXPECT_EQ(classify(*s.failure), errc::cancelled);
    auto r = await_reply(handle);
    EXPECT_FALSE(r.summary);
    EXPECT_EQ(classify(r.error), errc::cancelled);
  };
  kill(other, 2, h2);
  EXPECT_EQ(active_of(router, other), 0) << "load must be released on errors";
  kill(busy, 3, h3);
  EXPECT_EQ(stats(router).active_requests, (std::vector<uint32_t>{0, 0}))
    << "load must be released on errors";
}

TEST_F(router_test, worker_errors_reach_the_client_and_release_the_load) {
  auto router = start_router();
  add_worker("busy", {{}, fake_ending::reply_error, make_error(errc::overloaded, "queue full"), 0});
  ASSERT_TRUE(await_workers(router, 1));
  auto handle = self()->request(router, actor_timeout, generate_atom::value, make_request(1),
                                sink());
  auto reply1 = await_reply(handle);
  EXPECT_FALSE(reply1.summary);
  EXPECT_EQ(classify(reply1.error), errc::overloaded) << describe(reply1.error);
  EXPECT_EQ(client_message(reply1.error), "queue full");
  EXPECT_EQ(stats(router).active_requests, (std::vector<uint32_t>{0}));
}

TEST_F(router_test, a_stream_that_fails_midway_reaches_the_sink_and_releases_the_load) {
  auto router = start_router();
  add_worker("flaky", {{text_chunk("ab")},
                       fake_ending::fail,
                       make_error(errc::overloaded, "evicted"),
                       0});
  ASSERT_TRUE(await_workers(router, 1));
  auto [stream, reply] = generate(router, 1);
  ASSERT_EQ(stream.chunks.size(), 1u);
  EXPECT_EQ(stream.tokens(), (std::vector<engine::token_id>{'a', 'b'}));
  ASSERT_TRUE(stream.failure);
  EXPECT_EQ(classify(*stream.failure), errc::overloaded);
  EXPECT_EQ(classify(reply.error), errc::overloaded);
  EXPECT_EQ(stats(router).active_requests, (std::vector<uint32_t>{0}));
}

TEST_F(router_test, cancel_is_forwarded_to_the_worker_that_got_the_request) {
  auto router = start_router("round-robin");
  add_worker("a", holding());
  add_worker("b", holding());
  ASSERT_TRUE(await_workers(router, 2));
  auto h1 = self()->request(router, actor_timeout, generate_atom::value, make_request(1), sink());
  auto h2 = self()->request(router, actor_timeout, generate_atom::value, make_request(2), sink());
  ASSERT_TRUE(await_calls(2));
  ASSERT_NE(log_->receiver_of(1), log_->receiver_of(2));
  self()->send(router, cancel_atom::value, request_id{2}, cancel_kind::kill);
  auto s2 = receive_stream(self(), 2);
  ASSERT_TRUE(s2.failure);
  EXPECT_EQ(classify(*s2.failure), errc::cancelled);
  EXPECT_EQ(classify(await_reply(h2).error), errc::cancelled);
  self()->send(router, cancel_atom::value, request_id{1}, cancel_kind::stop_generating);
  auto s1 = receive_stream(self(), 1);
  EXPECT_TRUE(s1.ended);
  ASSERT_FALSE(s1.chunks.empty());
  EXPECT_EQ(s1.chunks.back().finish, engine::finish_reason::cancelled);
  auto r1 = await_reply(h1);
  ASSERT_TRUE(r1.summary) << describe(r1.error);
  auto cancels = log_->cancellations();
  ASSERT_EQ(cancels.size(), 2u);
  EXPECT_EQ(cancels[0].fake, log_->receiver_of(2));
  EXPECT_EQ(cancels[0].id, 2u);
  EXPECT_EQ(cancels[0].kind, cancel_kind::kill);
  EXPECT_EQ(cancels[1].fake, log_->receiver_of(1));
  EXPECT_EQ(cancels[1].id, 1u);
  EXPECT_EQ(cancels[1].kind, cancel_kind::stop_generating);
}

TEST_F(router_test, a_worker_that_terminates_mid_request_yields_disconnected) {
  auto router = start_router();
  auto w = add_worker("doomed", holding());
  ASSERT_TRUE(await_workers(router, 1));
  auto handle = self()->request(router, actor_timeout, generate_atom::value, make_request(1),
                                sink());
  ASSERT_TRUE(await_calls(1));
  caf::anon_send_exit(w.handle, caf::exit_reason::kill);
  auto reply = await_reply(handle);
  EXPECT_FALSE(reply.summary);
  EXPECT_EQ(classify(reply.error), errc::disconnected)
    << "the router must notice that the worker died: " << describe(reply.error);
  ASSERT_TRUE(await_workers(router, 0));
  EXPECT_EQ(stats(router).routed, 1u);
}

TEST_F(router_test, a_dead_worker_still_in_discovery_is_suspended_at_once) {
  // The worker's actor is gone while its registration is still in discovery (for a remote
  // worker: the connection broke before the lease expired). The router watches the handle and
  // takes the worker out of rotation instead of routing into the dead handle.
  auto router = start_router();
  auto dead = dynamo::testing::serve_fake_unannounced(rt(), "worker", "dead", holding(), log_);
  auto fake = own(dead.handle);
  ASSERT_TRUE(await_workers(router, 1));
  auto fake_actor = caf::actor_cast<caf::actor>(fake);
  caf::anon_send_exit(fake_actor, caf::exit_reason::kill);
  ASSERT_TRUE(await_down(fake_actor));
  ASSERT_TRUE(await_workers(router, 0)) << "the dead worker was not suspended";
  auto handle = self()->request(router, actor_timeout, generate_atom::value, make_request(1),
                                sink());
  auto reply = await_reply(handle);
  EXPECT_FALSE(reply.summary);
  EXPECT_EQ(classify(reply.error), errc::unavailable) << describe(reply.error);
  EXPECT_TRUE(stats(router).active_requests.empty());
  EXPECT_FALSE(rt().discovery().revoke(dead.lease));
}

TEST_F(router_test, a_request_that_bounces_off_a_dead_worker_is_retried_elsewhere) {
  auto router = start_router("round-robin");
  auto a = add_worker("a", answering());
  auto dead = dynamo::testing::serve_fake_unannounced(rt(), "worker", "dead", holding(), log_);
  auto fake = own(dead.handle);
  ASSERT_TRUE(await_workers(router, 2));
  // Kill the second worker and send at once: whether the router sees the down message first
  // (suspension) or the bounce (retry), every request is served by worker a.
  caf::anon_send_exit(caf::actor_cast<caf::actor>(fake), caf::exit_reason::kill);
  for (request_id id = 1; id <= 4; ++id) {
    auto [stream, reply] = generate(router, id);
    ASSERT_TRUE(reply.summary) << "request " << id << ": " << describe(reply.error);
    EXPECT_EQ(reply.summary->worker_instance, a.ctx.instance.value);
  }
  EXPECT_EQ(stats(router).active_requests, (std::vector<uint32_t>{0}));
  EXPECT_FALSE(rt().discovery().revoke(dead.lease));
}

TEST_F(router_test, a_request_refused_as_unavailable_is_retried_once_per_other_worker) {
  auto router = start_router("round-robin");
  auto refusing = fake_generate_script{{}, fake_ending::reply_error,
                                       make_error(errc::unavailable, "the worker is shutting down")};
  auto a = add_worker("a", refusing);
  auto b = add_worker("b", answering());
  ASSERT_TRUE(await_workers(router, 2));
  for (request_id id = 1; id <= 4; ++id) {
    auto [stream, reply] = generate(router, id);
    ASSERT_TRUE(reply.summary) << "request " << id << ": " << describe(reply.error);
    EXPECT_EQ(reply.summary->worker_instance, b.ctx.instance.value);
  }
  EXPECT_EQ(stats(router).active_requests, (std::vector<uint32_t>{0, 0}));
}

TEST_F(router_test, a_refused_request_without_another_worker_fails_and_releases_its_load) {
  auto router = start_router();
  auto a = add_worker("a", fake_generate_script{{}, fake_ending::reply_error,
                                                make_error(errc::unavailable, "refused")});
  ASSERT_TRUE(await_workers(router, 1));
  auto handle = self()->request(router, actor_timeout, generate_atom::value, make_request(1),
                                sink());
  auto reply = await_reply(handle);
  EXPECT_FALSE(reply.summary);
  EXPECT_EQ(classify(reply.error), errc::unavailable) << describe(reply.error);
  EXPECT_EQ(stats(router).active_requests, (std::vector<uint32_t>{0}));
}

TEST_F(router_test, no_worker_means_unavailable) {
  auto router = start_router();
  ASSERT_TRUE(wait_until(
    [&] { return !rt().discovery().list(rt().ns() + "/router/").empty(); }, actor_timeout))
    << "timed out waiting for the router to register";
  auto handle = self()->request(router, actor_timeout, generate_atom::value, make_request(1),
                                sink());
  auto reply = await_reply(handle);
  EXPECT_FALSE(reply.summary);
  EXPECT_EQ(classify(reply.error), errc::unavailable) << describe(reply.error);
  auto s = stats(router);
  EXPECT_EQ(s.rejected, 1u);
  EXPECT_EQ(s.routed, 0u);
}

TEST_F(router_test, a_worker_that_leaves_discovery_gets_no_new_requests) {
  auto router = start_router("round-robin");
  auto a = add_worker("a", answering());
  auto b = add_worker("b", answering());
  ASSERT_TRUE(await_workers(router, 2));
  ASSERT_FALSE(rt().discovery().revoke(a.lease));
  ASSERT_TRUE(await_workers(router, 1));
  EXPECT_EQ(stats(router).workers, (std::vector<uint64_t>{b.ctx.instance.value}));
  for (request_id id = 1; id <= 4; ++id) {
    auto [stream, reply] = generate(router, id);
    ASSERT_TRUE(reply.summary) << describe(reply.error);
    EXPECT_EQ(reply.summary->worker_instance, b.ctx.instance.value);
  }
  EXPECT_EQ(log_->calls_to("a"), 0u);
  EXPECT_EQ(log_->calls_to("b"), 4u);
}

TEST_F(router_test, drain_without_requests_is_clean_and_terminates) {
  auto router = start_router();
  add_worker("a", answering());
  ASSERT_TRUE(await_workers(router, 1));
  std::optional<drain_report> report;
  self()
    ->request(router, actor_timeout, drain_atom::value, uint32_t{1000})
    .receive([&report](drain_report& r) { report = r; },
             [](caf::error& err) { ADD_FAILURE() << "drain failed: " << describe(err); });
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean);
  EXPECT_EQ(report->abandoned, 0u);
  ASSERT_TRUE(await_down(caf::actor_cast<caf::actor>(router)));
  EXPECT_TRUE(wait_until([&] { return rt().discovery().list(rt().ns() + "/router/").empty(); },
                         actor_timeout))
    << "timed out waiting for the router to leave discovery";
}

TEST_F(router_test, drain_waits_for_in_flight_requests_and_refuses_new_ones) {
  auto router = start_router();
  auto w = add_worker("a", holding());
  ASSERT_TRUE(await_workers(router, 1));
  auto h1 = self()->request(router, actor_timeout, generate_atom::value, make_request(1), sink());
  ASSERT_TRUE(await_calls(1));
  auto drain = self()->request(router, actor_timeout, drain_atom::value, uint32_t{5000});
  auto h2 = self()->request(router, actor_timeout, generate_atom::value, make_request(2), sink());
  auto r2 = await_reply(h2);
  EXPECT_EQ(classify(r2.error), errc::unavailable) << "a draining router takes no new requests";
  self()->send(w.handle, cancel_atom::value, request_id{1}, cancel_kind::stop_generating);
  EXPECT_TRUE(receive_stream(self(), 1).ended);
  auto r1 = await_reply(h1);
  ASSERT_TRUE(r1.summary) << describe(r1.error);
  std::optional<drain_report> report;
  drain.receive([&report](drain_report& r) { report = r; },
                [](caf::error& err) { ADD_FAILURE() << "drain failed: " << describe(err); });
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean);
  ASSERT_TRUE(await_down(caf::actor_cast<caf::actor>(router)));
}

TEST_F(router_test, an_unknown_policy_fails_to_start) {
  auto router = start_router("fastest");
  ASSERT_TRUE(router) << "spawn returns a handle even when the start fails";
  auto reason = await_down(caf::actor_cast<caf::actor>(router));
  ASSERT_TRUE(reason);
  EXPECT_EQ(classify(*reason), errc::invalid_request) << describe(*reason);
  EXPECT_NE(client_message(*reason).find("fastest"), std::string::npos);
  EXPECT_TRUE(rt().discovery().list(rt().ns() + "/router/").empty());
}

TEST_F(router_test, a_worker_with_malformed_registration_is_skipped) {
  auto router = start_router();
  auto bad = dynamo::testing::announce_fake(rt(), "worker", "bad", answering(), log_,
                                            {{"endpoints", "generate@x"}});
  own(bad.handle);
  auto good = add_worker("good", answering());
  // Delivered in registration order: once the good worker is known, the bad one was skipped.
  ASSERT_TRUE(await_workers(router, 1));
  EXPECT_EQ(stats(router).workers, (std::vector<uint64_t>{good.ctx.instance.value}));
  for (request_id id = 1; id <= 3; ++id) {
    auto [stream, reply] = generate(router, id);
    ASSERT_TRUE(reply.summary) << describe(reply.error);
    EXPECT_EQ(log_->receiver_of(id), "good");
  }
  // A known worker whose record turns malformed leaves the rotation.
  ASSERT_FALSE(rt().discovery().update(good.lease, {{"kv_block_size", "0"}}));
  ASSERT_TRUE(await_workers(router, 0));
}

} // namespace
} // namespace dynamo::actors
