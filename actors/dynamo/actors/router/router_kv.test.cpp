// Policy "kv" of the router, in one runtime: real mocker workers publish KV events that the
// router indexes, fakes with scripted registrations exercise the registration checks and the
// load valve, and two router replicas share their load view.
#include "dynamo/actors/router/router.hpp"

#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
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
using dynamo::testing::receive_stream;
using dynamo::testing::text_chunk;
using dynamo::testing::wait_until;

constexpr uint32_t block = 16;

/// A prompt of `blocks` full blocks: `prefix_blocks` from family `family`, the rest unique to
/// `variant`.
std::vector<engine::token_id> prompt(uint32_t family, uint32_t variant, uint32_t prefix_blocks,
                                     uint32_t blocks) {
  std::vector<engine::token_id> out;
  for (uint32_t b = 0; b < blocks; ++b)
    for (uint32_t t = 0; t < block; ++t) {
      auto owner = b < prefix_blocks ? family * 1000 : 500000 + family * 1000 + variant;
      out.push_back(static_cast<engine::token_id>(1 + (owner * 131 + b * 17 + t) % 30000));
    }
  return out;
}

generate_request request(request_id id, std::vector<engine::token_id> tokens,
                         uint32_t max_tokens = 4) {
  generate_request req;
  req.id = id;
  req.model = "test-model";
  req.tokens = std::move(tokens);
  req.stop.max_tokens = max_tokens;
  req.stop.ignore_eos = true;
  return req;
}

/// Registration metadata of a fake worker with KV facts.
std::map<std::string, std::string> kv_metadata(uint32_t block_size,
                                               std::string scheme = expected_hash_scheme()) {
  return {{"endpoints", "generate"},
          {"model", "test-model"},
          {"kv_block_size", std::to_string(block_size)},
          {"total_kv_blocks", "1000"},
          {"hash_scheme", std::move(scheme)}};
}

class router_kv_test : public dynamo::testing::actor_test {
protected:
  router_actor start_router(router_config cfg, const std::string& name = "router") {
    auto ctx = dynamo::testing::make_context(rt(), name, {{"worker", "generate", "generate"}});
    cfg.policy = "kv";
    cfg.seed = 11;
    cfg.tick_interval = std::chrono::milliseconds{20};
    return caf::actor_cast<router_actor>(own(router::spawn(ctx, cfg)));
  }

  worker_actor start_worker() {
    auto ctx = dynamo::testing::make_context(rt(), "worker");
    worker_config cfg;
    cfg.model = "test-model";
    cfg.load_interval = std::chrono::milliseconds{1};
    cfg.mocker.speedup_ratio = 1000;
    cfg.scheduler.block_size = block;
    cfg.scheduler.total_kv_blocks = 2048;
    workers_.push_back(ctx.instance.value);
    return caf::actor_cast<worker_actor>(own(mocker_worker::spawn(ctx, cfg)));
  }

  announced_fake add_fake(std::string label, fake_generate_script script,
                          std::map<std::string, std::string> metadata) {
    auto fake = dynamo::testing::announce_fake(rt(), "worker", std::move(label), std::move(script),
                                               log_, std::move(metadata));
    own(fake.handle);
    return fake;
  }

  router_stats stats(const router_actor& router) {
    return ask_stats<router_stats>(self(), router);
  }

  ::testing::AssertionResult await_stats(const router_actor& router,
                                         const std::function<bool(const router_stats&)>& pred,
                                         const char* what) {
    if (wait_until([&] { return pred(stats(router)); }, actor_timeout))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "timed out waiting for: " << what;
  }

  /// Runs `req` through `router` to the end; returns the summary (fails the test on error).
  generate_summary run(const router_actor& router, generate_request req) {
    auto id = req.id;
    auto handle = self()->request(router, actor_timeout, generate_atom::value, std::move(req),
                                  sink());
    auto stream = receive_stream(self(), id);
    EXPECT_TRUE(stream.ended) << "request " << id << " did not end its stream";
    auto reply = await_reply(handle);
    EXPECT_TRUE(reply.summary) << "request " << id << ": " << describe(reply.error);
    return reply.summary.value_or(generate_summary{});
  }

  std::vector<uint64_t> workers_;
  std::shared_ptr<fake_generate_log> log_ = std::make_shared<fake_generate_log>();
};

TEST_F(router_kv_test, follow_up_requests_go_to_the_worker_that_caches_their_prefix) {
  auto router = start_router({});
  start_worker();
  start_worker();
  start_worker();
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.workers.size() == 3; },
                          "three workers"));
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.ingest.dumps >= 3; },
                          "a dump of every joining worker"));
  // Six prompt families: the first request of each seeds some worker's cache; later requests
  // of the family (same 8-block prefix, different suffix) must follow it.
  std::map<uint32_t, uint64_t> home;
  request_id id = 1;
  for (uint32_t family = 0; family < 6; ++family) {
    auto first = run(router, request(id++, prompt(family, 0, 8, 10)));
    home[family] = first.worker_instance;
  }
  ASSERT_TRUE(await_stats(router,
                          [](const router_stats& s) { return s.indexed_blocks >= 6 * 10; },
                          "the KV events of the first requests to be indexed"));
  std::set<uint64_t> used;
  for (uint32_t round = 1; round <= 2; ++round)
    for (uint32_t family = 0; family < 6; ++family) {
      auto s = run(router, request(id++, prompt(family, round, 8, 10)));
      EXPECT_EQ(s.worker_instance, home[family]) << "family " << family << " round " << round;
      EXPECT_GE(s.cached_prompt_tokens, 8 * block) << "the shared prefix was served from cache";
      used.insert(s.worker_instance);
    }
  EXPECT_GE(used.size(), 2u) << "six families spread over more than one worker";
  auto s = stats(router);
  EXPECT_EQ(s.policy, "kv");
  EXPECT_EQ(s.kv_decisions, 18u);
  EXPECT_GE(s.kv_matched_blocks, 12u * 8) << "every follow-up matched its 8 prefix blocks";
  EXPECT_EQ(s.ingest.gaps, 0u);
  ASSERT_TRUE(await_stats(
    router,
    [](const router_stats& st) {
      for (size_t i = 0; i < st.workers.size(); ++i)
        if (st.active_requests[i] != 0 || st.prefill_tokens[i] != 0 || st.decode_blocks[i] != 0)
          return false;
      return true;
    },
    "all load to be released after the requests finished"));
}

TEST_F(router_kv_test, a_shared_system_prompt_does_not_pin_every_request_to_one_worker) {
  auto router = start_router({});
  auto a = add_fake("a", {{}, fake_ending::hold, {}, 0}, kv_metadata(block));
  auto b = add_fake("b", {{}, fake_ending::hold, {}, 0}, kv_metadata(block));
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.workers.size() == 2; },
                          "two workers"));
  // Forty requests held open, all starting with the same 16-block system prompt: the load term
  // must spread them even though whichever worker got the first one would cache the prefix.
  for (request_id id = 1; id <= 40; ++id)
    self()->send(router, generate_atom::value, request(id, prompt(7, id, 16, 18)), sink());
  ASSERT_TRUE(wait_until([&] { return log_->calls().size() == 40; }, actor_timeout));
  size_t on_a = 0;
  for (request_id id = 1; id <= 40; ++id)
    on_a += log_->receiver_of(id) == "a" ? 1 : 0;
  EXPECT_GE(on_a, 10u);
  EXPECT_LE(on_a, 30u);
}

TEST_F(router_kv_test, workers_with_another_block_size_or_hash_scheme_are_refused) {
  router_config cfg;
  cfg.kv.block_size = block;
  auto router = start_router(cfg);
  add_fake("good", {{text_chunk("x", engine::finish_reason::length)}, fake_ending::end, {}, 0},
           kv_metadata(block));
  add_fake("wrong-size", {{}, fake_ending::end, {}, 0}, kv_metadata(32));
  add_fake("wrong-hash", {{}, fake_ending::end, {}, 0}, kv_metadata(block, "fnv:seed=0"));
  ASSERT_TRUE(await_stats(router,
                          [](const router_stats& s) {
                            return s.workers.size() == 1 && s.rejected_workers == 2;
                          },
                          "one accepted worker and two refused"));
  for (request_id id = 1; id <= 6; ++id) {
    run(router, request(id, prompt(1, id, 2, 3)));
    EXPECT_EQ(log_->receiver_of(id), "good");
  }
}

TEST_F(router_kv_test, the_load_valve_queues_then_sheds_when_every_worker_is_busy) {
  router_config cfg;
  cfg.kv.busy_active_requests = 1;  // busy with more than one active request
  cfg.queue_limit = 1;
  auto router = start_router(cfg);
  add_fake("a", {{}, fake_ending::hold, {}, 0}, kv_metadata(block));
  add_fake("b", {{}, fake_ending::hold, {}, 0}, kv_metadata(block));
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.workers.size() == 2; },
                          "two workers"));
  for (request_id id = 1; id <= 4; ++id)
    self()->send(router, generate_atom::value, request(id, prompt(1, id, 1, 2)), sink());
  ASSERT_TRUE(wait_until([&] { return log_->calls().size() == 4; }, actor_timeout))
    << "two requests per worker fit under the threshold";
  // Both workers are busy now: the fifth waits, the sixth is refused as overloaded.
  auto fifth = self()->request(router, actor_timeout, generate_atom::value,
                               request(5, prompt(1, 5, 1, 2)), sink());
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.queued == 1; },
                          "the fifth request to wait in the queue"));
  auto sixth = self()->request(router, actor_timeout, generate_atom::value,
                               request(6, prompt(1, 6, 1, 2)), sink());
  auto refused = await_reply(sixth);
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(classify(refused.error), errc::overloaded);
  EXPECT_EQ(log_->calls().size(), 4u) << "nothing reached a worker while all were busy";
  // Ending one request frees a slot: the queued request goes out.
  self()->send(router, cancel_atom::value, request_id{1}, cancel_kind::kill);
  ASSERT_TRUE(wait_until([&] { return log_->calls().size() == 5; }, actor_timeout))
    << "the queued request was dispatched when a worker had room";
  auto s = stats(router);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.shed, 1u);
  static_cast<void>(fifth);
}

TEST_F(router_kv_test, approximate_mode_remembers_its_own_decisions_until_they_expire) {
  router_config cfg;
  cfg.kv.use_events = false;
  cfg.kv.approx_ttl = std::chrono::milliseconds{300};
  auto router = start_router(cfg);
  add_fake("a", {{text_chunk("x", engine::finish_reason::length)}, fake_ending::end, {}, 0},
           kv_metadata(block));
  add_fake("b", {{text_chunk("x", engine::finish_reason::length)}, fake_ending::end, {}, 0},
           kv_metadata(block));
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.workers.size() == 2; },
                          "two workers"));
  run(router, request(1, prompt(3, 0, 6, 8)));
  auto home = log_->receiver_of(1);
  for (request_id id = 2; id <= 5; ++id) {
    run(router, request(id, prompt(3, static_cast<uint32_t>(id), 6, 8)));
    EXPECT_EQ(log_->receiver_of(id), home) << "request " << id;
  }
  EXPECT_GT(stats(router).indexed_blocks, 0u);
  ASSERT_TRUE(await_stats(router, [](const router_stats& s) { return s.indexed_blocks == 0; },
                          "the remembered decisions to expire after the TTL"));
}

TEST_F(router_kv_test, router_replicas_share_their_load_view) {
  auto a = start_router({});
  auto b = start_router({});
  add_fake("w", {{}, fake_ending::hold, {}, 0}, kv_metadata(block));
  ASSERT_TRUE(await_stats(a, [](const router_stats& s) { return s.workers.size() == 1; },
                          "router a to see the worker"));
  ASSERT_TRUE(await_stats(b, [](const router_stats& s) { return s.workers.size() == 1; },
                          "router b to see the worker"));
  self()->send(a, generate_atom::value, request(1, prompt(1, 1, 4, 4)), sink());
  ASSERT_TRUE(await_stats(b,
                          [](const router_stats& s) {
                            return s.sync_applied >= 1 && !s.decode_blocks.empty()
                                   && s.decode_blocks[0] >= 4 && s.prefill_tokens[0] == 4 * block;
                          },
                          "router b to count the load router a routed"));
  self()->send(a, cancel_atom::value, request_id{1}, cancel_kind::kill);
  ASSERT_TRUE(await_stats(b,
                          [](const router_stats& s) {
                            return !s.decode_blocks.empty() && s.decode_blocks[0] == 0
                                   && s.prefill_tokens[0] == 0;
                          },
                          "router b to release the load when the request ended"));
}

} // namespace
} // namespace dynamo::actors
