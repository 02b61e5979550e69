// The KV event ingester against a scripted worker: events published on the event plane, a fake
// "kv" endpoint that answers recovery queries, and the prefix index as the observable result.
#include "dynamo/actors/router/kv_indexer.hpp"

#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/engine/block_hash.hpp"
#include "dynamo/kv_router/event_codec.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <gtest/gtest.h>

#include <mutex>

namespace dynamo::actors {
namespace {

using dynamo::testing::ask_stats;
using dynamo::testing::actor_timeout;
using dynamo::testing::wait_until;

constexpr uint32_t block = 4;

/// What the fake worker answers, shared with the test.
struct fake_kv_script {
  std::mutex mtx;
  std::vector<engine::kv_event> state;  ///< Its whole state as stored events (a dump).
  uint64_t last_event_id = 0;
  std::vector<engine::kv_event> history;  ///< Events it can replay.
  std::vector<std::pair<uint64_t, bool>> queries;  ///< (after, force_dump) received.
  uint64_t worker = 0;
};

kv_query_actor::behavior_type fake_kv(kv_query_actor::pointer,
                                      std::shared_ptr<fake_kv_script> script) {
  return {
    [script](kv_query_atom, uint64_t after, bool force_dump) {
      std::lock_guard<std::mutex> guard{script->mtx};
      script->queries.emplace_back(after, force_dump);
      kv_router::event_batch b;
      b.worker = script->worker;
      b.block_size = block;
      kv_replay r;
      r.last_event_id = script->last_event_id;
      bool have_range = !force_dump && !script->history.empty()
                        && script->history.front().event_id <= after + 1;
      if (have_range) {
        for (const auto& ev : script->history)
          if (ev.event_id > after)
            b.events.push_back(ev);
      } else {
        r.full_dump = true;
        b.events = script->state;
      }
      r.batch = kv_router::encode_batch(b);
      return r;
    },
  };
}

/// The chained hashes of a token sequence cut in blocks of `block`.
engine::block_hashes chain(uint32_t seed, size_t blocks) {
  std::vector<engine::token_id> tokens;
  for (size_t i = 0; i < blocks * block; ++i)
    tokens.push_back(static_cast<engine::token_id>(seed * 1000 + i));
  return engine::hash_blocks(tokens, block);
}

/// A stored event for blocks [from, to) of `h`.
engine::kv_event stored(uint64_t id, const engine::block_hashes& h, size_t from, size_t to) {
  engine::kv_event ev;
  ev.event_id = id;
  ev.type = engine::kv_event::kind::stored;
  ev.block_hashes.assign(h.sequence.begin() + static_cast<ptrdiff_t>(from),
                         h.sequence.begin() + static_cast<ptrdiff_t>(to));
  ev.token_hashes.assign(h.local.begin() + static_cast<ptrdiff_t>(from),
                         h.local.begin() + static_cast<ptrdiff_t>(to));
  if (from > 0)
    ev.parent_hash = h.sequence[from - 1];
  return ev;
}

class kv_indexer_test : public dynamo::testing::actor_test {
protected:
  kv_indexer_test() {
    script_->worker = worker_ctx_.instance.value;
    auto kv = rt().system().spawn(fake_kv, script_);
    own(kv);
    EXPECT_FALSE(rt().requests().serve(worker_ctx_.address("kv"), caf::actor_cast<caf::actor>(kv)));
    auto ctx = dynamo::testing::make_context(rt(), "router", {{"worker", "generate", "generate"}});
    kv_indexer_config cfg;
    cfg.block_size = block;
    cfg.retry_delay = std::chrono::milliseconds{20};
    indexer_ = own(spawn_kv_indexer(ctx, cfg, index_));
    publisher_ = rt().events().make_publisher(worker_ctx_.instance.to_string());
  }

  /// Announces the worker to the ingester.
  void join() {
    peer_change change{true, "worker", worker_ctx_.instance.value, {}};
    self()->send(indexer_, kv_worker_atom::value, change);
  }

  /// Publishes events as the worker would.
  void publish(std::vector<engine::kv_event> events, uint32_t block_size = block) {
    kv_router::event_batch b;
    b.worker = worker_ctx_.instance.value;
    b.block_size = block_size;
    b.events = std::move(events);
    ASSERT_TRUE(publisher_->publish(kv_events_subject(worker_ctx_.id()), kv_router::encode_batch(b)));
  }

  kv_ingest_stats stats() {
    return ask_stats<kv_ingest_stats>(self(), indexer_);
  }

  ::testing::AssertionResult await_blocks(uint64_t n) {
    if (wait_until([&] { return index_->worker_blocks(script_->worker) == n; }, actor_timeout))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the index holds "
                                         << index_->worker_blocks(script_->worker)
                                         << " blocks of the worker, expected " << n;
  }

  uint32_t depth(const engine::block_hashes& h) {
    auto m = index_->find_matches(h.sequence);
    for (const auto& o : m.overlaps)
      if (o.worker == script_->worker)
        return o.blocks;
    return 0;
  }

  component_context worker_ctx_ = dynamo::testing::make_context(rt(), "worker");
  std::shared_ptr<fake_kv_script> script_ = std::make_shared<fake_kv_script>();
  std::shared_ptr<kv_router::prefix_index> index_ = std::make_shared<kv_router::prefix_index>();
  kv_indexer_actor indexer_;
  std::unique_ptr<event_publisher> publisher_;
};

TEST_F(kv_indexer_test, a_joining_worker_is_dumped_then_followed_by_its_events) {
  auto h = chain(1, 6);
  {
    std::lock_guard<std::mutex> guard{script_->mtx};
    script_->state = {stored(0, h, 0, 3)};
    script_->last_event_id = 5;
  }
  join();
  ASSERT_TRUE(await_blocks(3));
  publish({stored(6, h, 3, 5)});
  ASSERT_TRUE(await_blocks(5));
  publish({stored(5, h, 3, 4)});  // an old id: skipped
  publish({stored(7, h, 5, 6)});
  ASSERT_TRUE(await_blocks(6));
  EXPECT_EQ(depth(h), 6u);
  auto s = stats();
  EXPECT_EQ(s.dumps, 1u);
  EXPECT_EQ(s.gaps, 0u);
  EXPECT_EQ(s.duplicates, 1u);
  std::lock_guard<std::mutex> guard{script_->mtx};
  ASSERT_EQ(script_->queries.size(), 1u);
  EXPECT_TRUE(script_->queries[0].second) << "a join asks for a full dump";
}

TEST_F(kv_indexer_test, a_gap_is_filled_from_the_workers_history) {
  auto h = chain(2, 8);
  join();
  ASSERT_TRUE(wait_until([&] { return stats().dumps == 1; }, actor_timeout));
  publish({stored(1, h, 0, 2)});
  ASSERT_TRUE(await_blocks(2));
  {
    std::lock_guard<std::mutex> guard{script_->mtx};
    script_->history = {stored(1, h, 0, 2), stored(2, h, 2, 4), stored(3, h, 4, 5)};
    script_->last_event_id = 3;
  }
  // Events 2 and 3 were lost on the event plane; 4 arrives.
  publish({stored(4, h, 5, 8)});
  ASSERT_TRUE(await_blocks(8));
  EXPECT_EQ(depth(h), 8u);
  auto s = stats();
  EXPECT_EQ(s.gaps, 1u);
  EXPECT_EQ(s.range_replays, 1u);
  std::lock_guard<std::mutex> guard{script_->mtx};
  ASSERT_EQ(script_->queries.size(), 2u);
  EXPECT_EQ(script_->queries[1].first, 1u) << "the range after the last applied event";
  EXPECT_FALSE(script_->queries[1].second);
}

TEST_F(kv_indexer_test, a_gap_beyond_the_history_is_repaired_by_a_full_dump) {
  auto h = chain(3, 6);
  auto other = chain(4, 3);
  join();
  ASSERT_TRUE(wait_until([&] { return stats().dumps == 1; }, actor_timeout));
  publish({stored(1, other, 0, 3)});
  ASSERT_TRUE(await_blocks(3));
  {
    // Meanwhile the worker evicted `other` and stored h; its history starts at event 40.
    std::lock_guard<std::mutex> guard{script_->mtx};
    script_->state = {stored(0, h, 0, 5)};
    script_->history = {stored(40, h, 4, 5)};
    script_->last_event_id = 50;
  }
  publish({stored(51, h, 5, 6)});
  ASSERT_TRUE(await_blocks(6));
  EXPECT_EQ(depth(h), 6u);
  EXPECT_EQ(depth(other), 0u) << "the dump replaced what the index held";
  EXPECT_EQ(stats().dumps, 2u);
}

TEST_F(kv_indexer_test, bad_batches_are_refused_and_a_leaving_worker_is_forgotten) {
  auto h = chain(5, 4);
  // Before the worker joined: not indexed (published until the ingester's subscription, which
  // it makes once it runs, sees one).
  ASSERT_TRUE(wait_until(
    [&] {
      publish({stored(1, h, 0, 2)});
      return stats().unknown_worker >= 1;
    },
    actor_timeout));
  // The worker's state when it joins covers event 1, so that copies of event 1 still in flight
  // from the loop above are duplicates whenever they arrive.
  {
    std::lock_guard<std::mutex> guard{script_->mtx};
    script_->state = {stored(0, h, 0, 2)};
    script_->last_event_id = 1;
  }
  join();
  ASSERT_TRUE(wait_until([&] { return stats().dumps == 1; }, actor_timeout));
  ASSERT_TRUE(publisher_->publish(kv_events_subject(worker_ctx_.id()), "{not json"));
  publish({stored(2, h, 2, 4)}, block * 2);  // another block size
  publish({stored(2, h, 2, 4)});
  ASSERT_TRUE(await_blocks(4));
  auto s = stats();
  EXPECT_EQ(s.rejected, 2u);
  EXPECT_GE(s.unknown_worker, 1u);
  peer_change gone{false, "worker", worker_ctx_.instance.value, {}};
  self()->send(indexer_, kv_worker_atom::value, gone);
  ASSERT_TRUE(await_blocks(0));
  EXPECT_EQ(index_->stats().entries, 0u);
}

} // namespace
} // namespace dynamo::actors
