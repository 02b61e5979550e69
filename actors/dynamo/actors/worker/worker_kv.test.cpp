// The worker's KV side: the events it publishes, and its "kv" endpoint answering gap replays
// and full dumps that a router can rebuild its index from. A real mocker engine runs behind the
// worker; the test subscribes to the event plane like a router does.
#include "dynamo/actors/worker/worker.hpp"

#include "dynamo/actors/kv_messages.hpp"
#include "dynamo/error.hpp"
#include "dynamo/kv_router/event_codec.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::actors {
namespace {

using dynamo::testing::actor_timeout;
using dynamo::testing::await_reply;
using dynamo::testing::event_collector;
using dynamo::testing::make_request;
using dynamo::testing::receive_stream;
using dynamo::testing::wait_until;

/// What an index learns about one block: its local hash and its parent.
struct indexed_block {
  uint64_t local = 0;
  std::optional<uint64_t> parent;
  friend bool operator==(const indexed_block&, const indexed_block&) = default;
};

/// A router's view of one worker: sequence hash -> block.
using index_model = std::map<uint64_t, indexed_block>;

void apply_event(index_model& index, const engine::kv_event& ev) {
  switch (ev.type) {
    case engine::kv_event::kind::stored:
      for (size_t i = 0; i < ev.block_hashes.size(); ++i)
        index[ev.block_hashes[i]] = indexed_block{
          i < ev.token_hashes.size() ? ev.token_hashes[i] : 0,
          i == 0 ? ev.parent_hash : std::optional<uint64_t>{ev.block_hashes[i - 1]}};
      break;
    case engine::kv_event::kind::removed:
      for (auto h : ev.block_hashes)
        index.erase(h);
      break;
    case engine::kv_event::kind::cleared:
      index.clear();
      break;
  }
}

class worker_kv_test : public dynamo::testing::actor_test {
protected:
  /// Spawns a fast mocker worker named "worker" with `kv_blocks` KV blocks of 16 tokens that
  /// keeps `history` events for replays.
  worker_actor start_worker(uint64_t kv_blocks, uint32_t history) {
    ctx_ = dynamo::testing::make_context(rt(), "worker");
    worker_config cfg;
    cfg.model = "test-model";
    cfg.mocker.speedup_ratio = 1000;
    cfg.scheduler.total_kv_blocks = kv_blocks;
    cfg.kv_event_history = history;
    auto hdl = mocker_worker::spawn(ctx_, cfg);
    EXPECT_TRUE(hdl) << "the worker did not spawn";
    return caf::actor_cast<worker_actor>(own(hdl));
  }

  /// Runs `count` requests one after another, each with a prompt of its own (64 tokens: 4 full
  /// blocks), so that every request stores new blocks.
  void run_distinct_requests(const worker_actor& worker, request_id first, size_t count) {
    for (auto id = first; id < first + count; ++id) {
      auto req = make_request(id, 64, 4);
      req.tokens[0] = static_cast<engine::token_id>(1000 + id);
      auto handle = self()->request(worker, actor_timeout, generate_atom::value, std::move(req),
                                    sink());
      auto stream = receive_stream(self(), id);
      auto reply = await_reply(handle);
      ASSERT_TRUE(reply.summary) << "request " << id << ": " << describe(reply.error);
    }
  }

  /// Queries the worker's "kv" endpoint through the request plane, as a router does.
  std::optional<kv_replay> query(uint64_t after, bool force_dump) {
    // The worker serves its endpoints once it runs, shortly after spawn returned.
    EXPECT_TRUE(wait_until([this] { return !!rt().requests().connect(ctx_.address("kv")); },
                           actor_timeout))
      << "timed out waiting for the worker to serve its kv endpoint";
    auto kv = connect_as<kv_query_actor>(rt().requests(), ctx_.address("kv"));
    if (!kv) {
      ADD_FAILURE() << "the kv endpoint is not served: " << describe(kv.error());
      return std::nullopt;
    }
    std::optional<kv_replay> result;
    self()
      ->request(*kv, actor_timeout, kv_query_atom::value, after, force_dump)
      .receive([&result](kv_replay& r) { result = std::move(r); },
               [](caf::error& err) { ADD_FAILURE() << "kv query failed: " << describe(err); });
    return result;
  }

  /// Decodes a replay's batch, checking the worker's identity in it.
  kv_router::event_batch decode(const kv_replay& r) {
    auto batch = kv_router::decode_batch(r.batch);
    EXPECT_TRUE(batch) << describe(batch.error());
    if (!batch)
      return {};
    EXPECT_EQ(batch->worker, ctx_.instance.value);
    EXPECT_EQ(batch->block_size, 16u);
    EXPECT_EQ(batch->tier, kv_router::storage_tier::device);
    return std::move(*batch);
  }

  /// Every event published on the worker's kv_events subject so far, in publication order.
  std::vector<engine::kv_event> published(const event_collector& events) {
    std::vector<engine::kv_event> result;
    for (const auto& m : events.messages()) {
      EXPECT_EQ(m.publisher, ctx_.instance.to_string());
      auto batch = kv_router::decode_batch(m.payload);
      EXPECT_TRUE(batch) << "a published batch must decode: " << describe(batch.error());
      if (!batch)
        continue;
      EXPECT_EQ(batch->worker, ctx_.instance.value);
      EXPECT_EQ(batch->block_size, 16u);
      for (auto& ev : batch->events)
        result.push_back(std::move(ev));
    }
    return result;
  }

  /// Waits until the events up to `last` were delivered to `events`, then returns them all.
  std::vector<engine::kv_event> published_through(const event_collector& events, uint64_t last) {
    EXPECT_TRUE(wait_until(
      [&] {
        auto evs = published(events);
        return last == 0 || (!evs.empty() && evs.back().event_id >= last);
      },
      actor_timeout))
      << "timed out waiting for the published KV events to reach event " << last;
    return published(events);
  }

  std::string subject() const {
    return kv_events_subject(ctx_.id());
  }

  component_context ctx_;
};

TEST_F(worker_kv_test, published_events_are_numbered_from_one_in_order) {
  auto worker = start_worker(1024, 8192);
  event_collector events{rt().events(), rt().ns() + ".worker.kv_events"};
  run_distinct_requests(worker, 1, 3);
  auto state = query(0, false);
  ASSERT_TRUE(state);
  auto all = published_through(events, state->last_event_id);
  ASSERT_GE(all.size(), 3u) << "each request stores its prompt blocks";
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(all[i].event_id, i + 1) << "event " << i;
  EXPECT_EQ(events.messages().front().subject, subject());
}

TEST_F(worker_kv_test, a_query_after_an_id_replays_exactly_what_was_published) {
  auto worker = start_worker(1024, 8192);
  event_collector events{rt().events(), subject()};
  run_distinct_requests(worker, 1, 4);
  auto replay = query(0, false);
  ASSERT_TRUE(replay);
  EXPECT_FALSE(replay->full_dump) << "the history holds every event";
  ASSERT_GT(replay->last_event_id, 0u);
  auto all = published_through(events, replay->last_event_id);
  ASSERT_EQ(all.size(), replay->last_event_id);
  auto got = decode(*replay);
  ASSERT_EQ(got.events.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "event " << i);
    EXPECT_EQ(got.events[i].event_id, all[i].event_id);
    EXPECT_EQ(got.events[i].type, all[i].type);
    EXPECT_EQ(got.events[i].block_hashes, all[i].block_hashes);
    EXPECT_EQ(got.events[i].token_hashes, all[i].token_hashes);
    EXPECT_EQ(got.events[i].parent_hash, all[i].parent_hash);
  }
  // A later range starts right after the given id.
  auto tail = query(2, false);
  ASSERT_TRUE(tail);
  EXPECT_FALSE(tail->full_dump);
  auto tail_batch = decode(*tail);
  ASSERT_EQ(tail_batch.events.size(), all.size() - 2);
  EXPECT_EQ(tail_batch.events.front().event_id, 3u);
  // Nothing missing: an empty range, not a dump.
  auto none = query(replay->last_event_id, false);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->full_dump);
  EXPECT_EQ(none->last_event_id, replay->last_event_id);
  EXPECT_TRUE(decode(*none).events.empty());
}

TEST_F(worker_kv_test, after_more_traffic_than_the_history_holds_a_query_gets_a_full_dump) {
  // 32 blocks of 16 tokens; 20 distinct 4-block prompts: blocks are stored and evicted.
  auto worker = start_worker(32, 4);
  event_collector events{rt().events(), subject()};
  run_distinct_requests(worker, 1, 20);
  auto replay = query(0, false);
  ASSERT_TRUE(replay);
  EXPECT_TRUE(replay->full_dump) << "events 1.. dropped out of a history of 4";
  auto all = published_through(events, replay->last_event_id);
  ASSERT_EQ(all.size(), replay->last_event_id);
  index_model from_events;
  size_t removed = 0;
  for (const auto& ev : all) {
    apply_event(from_events, ev);
    removed += ev.type == engine::kv_event::kind::removed ? 1 : 0;
  }
  ASSERT_GT(removed, 0u) << "the workload must evict blocks";
  auto dump = decode(*replay);
  index_model from_dump;
  for (const auto& ev : dump.events) {
    EXPECT_EQ(ev.event_id, 0u) << "a dump's events carry id 0";
    EXPECT_EQ(ev.type, engine::kv_event::kind::stored);
    if (ev.parent_hash && from_events.contains(*ev.parent_hash)) {
      EXPECT_TRUE(from_dump.contains(*ev.parent_hash)) << "a parent precedes its children";
    }
    apply_event(from_dump, ev);
  }
  EXPECT_FALSE(from_dump.empty());
  EXPECT_TRUE(from_dump == from_events)
    << "replaying the dump must give the blocks that the published events describe ("
    << from_dump.size() << " vs " << from_events.size() << " blocks)";
  // The history still covers the newest events.
  auto recent = query(replay->last_event_id - 2, false);
  ASSERT_TRUE(recent);
  EXPECT_FALSE(recent->full_dump);
  EXPECT_EQ(decode(*recent).events.size(), 2u);
}

TEST_F(worker_kv_test, force_dump_and_a_caller_ahead_of_the_worker_get_a_full_dump) {
  auto worker = start_worker(1024, 8192);
  run_distinct_requests(worker, 1, 2);
  auto latest = query(0, false);
  ASSERT_TRUE(latest);
  auto forced = query(latest->last_event_id, true);
  ASSERT_TRUE(forced);
  EXPECT_TRUE(forced->full_dump);
  EXPECT_EQ(forced->last_event_id, latest->last_event_id);
  index_model from_range;
  for (const auto& ev : decode(*latest).events)
    apply_event(from_range, ev);
  index_model from_dump;
  for (const auto& ev : decode(*forced).events)
    apply_event(from_dump, ev);
  EXPECT_EQ(from_dump.size(), 8u) << "two prompts of four full blocks each";
  EXPECT_TRUE(from_dump == from_range);
  auto ahead = query(latest->last_event_id + 100, false);
  ASSERT_TRUE(ahead);
  EXPECT_TRUE(ahead->full_dump) << "ids the worker never published mean a confused caller";
}

TEST_F(worker_kv_test, an_idle_worker_answers_with_an_empty_state) {
  auto worker = start_worker(64, 16);
  auto replay = query(0, false);
  ASSERT_TRUE(replay);
  EXPECT_FALSE(replay->full_dump);
  EXPECT_EQ(replay->last_event_id, 0u);
  EXPECT_TRUE(decode(*replay).events.empty());
  auto dump = query(0, true);
  ASSERT_TRUE(dump);
  EXPECT_TRUE(dump->full_dump);
  EXPECT_TRUE(decode(*dump).events.empty());
}

TEST_F(worker_kv_test, registers_and_serves_the_kv_endpoint_beside_generate) {
  auto worker = start_worker(64, 16);
  ASSERT_TRUE(wait_until([&] { return rt().discovery().list(rt().ns() + "/worker/").size() == 1; },
                         actor_timeout))
    << "timed out waiting for the worker to register";
  auto rec = rt().discovery().list(rt().ns() + "/worker/").front();
  auto reg = instance_registration::from_metadata(rec.metadata);
  ASSERT_TRUE(reg) << describe(reg.error());
  EXPECT_EQ(reg->endpoints, (std::map<std::string, uint32_t>{{"generate", 1}, {"kv", 1}}));
  EXPECT_TRUE(rt().requests().connect(ctx_.address("kv")));
  auto drain = self()->request(worker, actor_timeout, drain_atom::value, uint32_t{1000});
  drain.receive([](drain_report&) {},
                [](caf::error& err) { ADD_FAILURE() << "drain failed: " << describe(err); });
  ASSERT_TRUE(await_down(caf::actor_cast<caf::actor>(worker)));
  EXPECT_TRUE(wait_until([&] { return !rt().requests().connect(ctx_.address("kv")); },
                         actor_timeout))
    << "timed out waiting for the kv endpoint to be withdrawn after the worker ended";
}

TEST_F(worker_kv_test, a_history_of_zero_events_is_refused) {
  ctx_ = dynamo::testing::make_context(rt(), "worker");
  worker_config cfg;
  cfg.kv_event_history = 0;
  EXPECT_FALSE(mocker_worker::spawn(ctx_, cfg)) << "kv_event_history 0 must not spawn a worker";
}

} // namespace
} // namespace dynamo::actors
