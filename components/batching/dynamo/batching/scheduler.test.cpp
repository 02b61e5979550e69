#include "dynamo/batching/scheduler.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

namespace dynamo::batching {
namespace {

using engine::finish_reason;
using engine::sequence_output;
using engine::sequence_request;
using engine::token_id;

constexpr int max_steps = 100000;

scheduler_config small_config() {
  scheduler_config cfg;
  cfg.block_size = 4;
  cfg.total_kv_blocks = 64;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 32;
  cfg.max_model_len = 256;
  cfg.admission_watermark = 0.0;
  return cfg;
}

sequence_request make_request(engine::request_id id, uint32_t prompt_len, uint32_t max_tokens,
                              token_id first = 1) {
  sequence_request req;
  req.id = id;
  req.prompt.resize(prompt_len);
  std::iota(req.prompt.begin(), req.prompt.end(), first);
  req.stop.max_tokens = max_tokens;
  return req;
}

// Queues `req` with its id as the stream seed.
caf::error admit(scheduler& s, sequence_request req) {
  const auto id = req.id;
  return s.admit(std::move(req), id);
}

// A deterministic test picker: tokens in [32, 126] from (stream seed, position), like the mocker.
token_id test_token(const sequence& seq, size_t) {
  uint64_t x = seq.stream_seed * 0x9E3779B97F4A7C15ull + seq.generated + 1;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<token_id>(32 + x % 95);
}

const scheduler::token_picker pick = test_token;

uint32_t batch_tokens(const step_batch& batch) {
  uint32_t total = 0;
  for (const auto& w : batch.work)
    total += w.tokens;
  return total;
}

// Drives the scheduler until it is idle, checking the budget and sequence limit every step.
// Returns the tokens produced per request and their finish reasons.
struct run_result {
  std::map<engine::request_id, std::vector<token_id>> tokens;
  std::map<engine::request_id, finish_reason> finish;
  int steps = 0;
};

run_result drain(scheduler& s, const scheduler_config& cfg) {
  run_result result;
  std::vector<sequence_output> out;
  while (s.has_work()) {
    if (++result.steps > max_steps) {
      ADD_FAILURE() << "scheduler did not drain within " << max_steps
                    << " steps: expected every request to finish (deadlock?)";
      break;
    }
    const auto& batch = s.schedule();
    EXPECT_LE(batch_tokens(batch), cfg.max_num_batched_tokens) << "step " << result.steps;
    EXPECT_LE(s.running_count(), cfg.max_num_seqs) << "step " << result.steps;
    out.clear();
    s.complete(out, pick);
    for (auto& o : out) {
      EXPECT_EQ(result.finish.count(o.id), 0u) << "output after finish for " << o.id;
      auto& toks = result.tokens[o.id];
      toks.insert(toks.end(), o.tokens.begin(), o.tokens.end());
      if (o.finish != finish_reason::none)
        result.finish[o.id] = o.finish;
    }
  }
  return result;
}

TEST(scheduler, chunked_prefill_splits_a_long_prompt_within_the_budget) {
  auto cfg = small_config();
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 100, 2)));
  EXPECT_EQ(s.prefill_tokens_pending(), 100u);
  std::vector<uint32_t> chunks;
  std::vector<sequence_output> out;
  while (out.empty()) {
    ASSERT_LT(chunks.size(), 10u) << "expected the prefill to complete within 4 steps";
    const auto& batch = s.schedule();
    ASSERT_EQ(batch.work.size(), 1u);
    EXPECT_TRUE(batch.work[0].prefill);
    EXPECT_EQ(batch.prefill_tokens, batch.work[0].tokens);
    chunks.push_back(batch.work[0].tokens);
    s.complete(out, pick);
  }
  EXPECT_THAT(chunks, ::testing::ElementsAre(32u, 32u, 32u, 4u));
  ASSERT_EQ(out.size(), 1u) << "the first token comes with the last chunk";
  EXPECT_EQ(out[0].tokens.size(), 1u);
  EXPECT_EQ(out[0].prompt_tokens, 100u);
  EXPECT_EQ(s.prefill_tokens_pending(), 0u);
  EXPECT_EQ(s.kv_tokens(), 100u);
}

TEST(scheduler, decodes_go_first_and_prefill_takes_the_rest_of_the_budget) {
  auto cfg = small_config();
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 8, 50)));
  std::vector<sequence_output> out;
  s.schedule();
  s.complete(out, pick);  // request 1 prefilled; now decoding
  ASSERT_EQ(out.size(), 1u);
  ASSERT_FALSE(admit(s, make_request(2, 200, 1, 1000)));
  const auto& batch = s.schedule();
  ASSERT_EQ(batch.work.size(), 2u);
  EXPECT_FALSE(batch.work[0].prefill);
  EXPECT_EQ(batch.work[0].seq->id, 1u);
  EXPECT_EQ(batch.work[0].tokens, 1u);
  EXPECT_TRUE(batch.work[1].prefill);
  EXPECT_EQ(batch.work[1].tokens, 31u);
  EXPECT_EQ(batch.decode_sequences, 1u);
  EXPECT_EQ(batch.prefill_tokens, 31u);
  out.clear();
  s.complete(out, pick);
}

TEST(scheduler, without_chunking_a_prefill_waits_for_a_whole_budget) {
  auto cfg = small_config();
  cfg.enable_chunked_prefill = false;
  cfg.max_num_batched_tokens = 64;
  cfg.max_model_len = 64;
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 40, 4)));
  ASSERT_FALSE(admit(s, make_request(2, 40, 4, 500)));
  const auto& first = s.schedule();
  ASSERT_EQ(first.work.size(), 1u) << "the second prompt does not fit in the remaining 24 tokens";
  EXPECT_EQ(first.work[0].tokens, 40u);
  std::vector<sequence_output> out;
  s.complete(out, pick);
  EXPECT_EQ(s.waiting_count(), 1u);
  auto result = drain(s, cfg);
  EXPECT_EQ(result.finish.size(), 2u);
}

TEST(scheduler, max_num_seqs_bounds_the_running_set) {
  auto cfg = small_config();
  cfg.max_num_seqs = 3;
  scheduler s{cfg, nullptr};
  for (engine::request_id id = 1; id <= 10; ++id)
    ASSERT_FALSE(admit(s, make_request(id, 5, 6, static_cast<token_id>(id * 100))));
  s.schedule();
  EXPECT_EQ(s.running_count(), 3u);
  EXPECT_EQ(s.waiting_count(), 7u);
  std::vector<sequence_output> out;
  s.complete(out, pick);
  auto result = drain(s, cfg);
  ASSERT_EQ(result.finish.size(), 10u);
  for (auto& [id, reason] : result.finish) {
    EXPECT_EQ(reason, finish_reason::length) << id;
    EXPECT_EQ(result.tokens[id].size() + (id <= 3 ? 1u : 0u), 6u) << id;
  }
}

TEST(scheduler, repeated_prompt_hits_the_prefix_cache_and_allocates_fewer_blocks) {
  auto cfg = small_config();
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 18, 2)));
  auto first = drain(s, cfg);
  ASSERT_EQ(first.finish.size(), 1u);
  EXPECT_EQ(s.kv().active_blocks(), 0u);
  EXPECT_EQ(s.kv().inactive_blocks(), 4u) << "the prompt's four full blocks stay cached";
  const auto free_before = s.kv().free_blocks();

  ASSERT_FALSE(admit(s, make_request(2, 18, 2)));
  const auto& batch = s.schedule();
  ASSERT_EQ(batch.work.size(), 1u);
  EXPECT_EQ(batch.prefill_tokens, 2u) << "only the partial block is prefilled";
  EXPECT_EQ(batch.work[0].seq->cached_prompt_tokens, 16u);
  EXPECT_EQ(s.kv().active_blocks(), 5u);
  EXPECT_EQ(free_before - s.kv().free_blocks(), 1u) << "one fresh block, four reused";
  std::vector<sequence_output> out;
  s.complete(out, pick);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].cached_prompt_tokens, 16u);
  EXPECT_EQ(out[0].prompt_tokens, 18u);
}

TEST(scheduler, a_fully_cached_prompt_still_computes_its_last_block) {
  auto cfg = small_config();
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 16, 1)));
  drain(s, cfg);
  ASSERT_FALSE(admit(s, make_request(2, 16, 1)));
  const auto& batch = s.schedule();
  ASSERT_EQ(batch.work.size(), 1u);
  EXPECT_EQ(batch.work[0].tokens, 4u);
  EXPECT_EQ(batch.work[0].seq->cached_prompt_tokens, 12u);
  std::vector<sequence_output> out;
  s.complete(out, pick);
}

TEST(scheduler, exhausted_pool_preempts_lifo_and_every_request_finishes) {
  auto cfg = small_config();
  cfg.total_kv_blocks = 8;
  scheduler s{cfg, nullptr};
  // Each request eventually needs (8 + 20 - 1) / 4 -> 7 blocks; all three start with 2.
  for (engine::request_id id = 1; id <= 3; ++id)
    ASSERT_FALSE(admit(s, make_request(id, 8, 20, static_cast<token_id>(id * 1000))));
  auto result = drain(s, cfg);
  EXPECT_GT(s.preemptions(), 0u);
  ASSERT_EQ(result.finish.size(), 3u);
  for (auto& [id, reason] : result.finish) {
    EXPECT_EQ(reason, finish_reason::length) << id;
    EXPECT_EQ(result.tokens[id].size(), 20u) << id;
  }
  EXPECT_EQ(s.kv().active_blocks(), 0u);
  EXPECT_EQ(s.kv_tokens(), 0u);
  EXPECT_EQ(s.prefill_tokens_pending(), 0u);

  // Preemption and recompute do not change what is generated.
  auto big = cfg;
  big.total_kv_blocks = 64;
  scheduler reference{big, nullptr};
  for (engine::request_id id = 1; id <= 3; ++id)
    ASSERT_FALSE(admit(reference, make_request(id, 8, 20, static_cast<token_id>(id * 1000))));
  auto expected = drain(reference, big);
  EXPECT_EQ(reference.preemptions(), 0u);
  EXPECT_EQ(result.tokens, expected.tokens);
}

TEST(scheduler, preempted_sequence_goes_back_to_the_front_of_waiting) {
  auto cfg = small_config();
  cfg.total_kv_blocks = 4;
  scheduler s{cfg, nullptr};
  // Two sequences of exactly one full block; the next decode of each needs a second block.
  ASSERT_FALSE(admit(s, make_request(1, 4, 9)));
  ASSERT_FALSE(admit(s, make_request(2, 4, 9, 100)));
  std::vector<sequence_output> out;
  s.schedule();
  s.complete(out, pick);
  EXPECT_EQ(s.running_count(), 2u);
  ASSERT_FALSE(admit(s, make_request(3, 4, 1, 200)));
  // Run until the pool is exhausted by decodes.
  for (int i = 0; i < 20 && s.preemptions() == 0; ++i) {
    s.schedule();
    out.clear();
    s.complete(out, pick);
  }
  ASSERT_GT(s.preemptions(), 0u) << "expected decode growth to exhaust 4 blocks";
  EXPECT_EQ(s.running_count(), 1u);
  EXPECT_EQ(s.waiting_count(), 2u);
  auto result = drain(s, cfg);
  EXPECT_EQ(result.finish.size(), 3u);
}

TEST(scheduler, rejects_impossible_requests) {
  auto cfg = small_config();
  cfg.total_kv_blocks = 4;
  cfg.max_model_len = 64;
  scheduler s{cfg, nullptr};
  auto expect_invalid = [&s](sequence_request req, const char* what) {
    auto err = admit(s, std::move(req));
    EXPECT_EQ(classify(err), errc::invalid_request) << what;
  };
  expect_invalid(make_request(1, 0, 4), "empty prompt");
  expect_invalid(make_request(1, 4, 0), "max_tokens 0");
  expect_invalid(make_request(1, 60, 5), "prompt + max_tokens > max_model_len");
  expect_invalid(make_request(1, 16, 2), "17 KV tokens need 5 blocks of 4, the pool has 4");
  ASSERT_FALSE(admit(s, make_request(1, 16, 1))) << "16 KV tokens fit in 4 blocks";
  expect_invalid(make_request(1, 4, 1), "duplicate id");
  EXPECT_EQ(s.waiting_count(), 1u);
}

TEST(scheduler, overloaded_when_the_waiting_queue_is_full) {
  auto cfg = small_config();
  cfg.max_waiting = 2;
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 4, 1)));
  ASSERT_FALSE(admit(s, make_request(2, 4, 1)));
  auto err = admit(s, make_request(3, 4, 1));
  EXPECT_EQ(classify(err), errc::overloaded);
  std::vector<sequence_output> out;
  s.schedule();
  s.complete(out, pick);
  EXPECT_FALSE(admit(s, make_request(3, 4, 1))) << "room again once the queue drained";
}

TEST(scheduler, cancel_frees_blocks_of_running_and_waiting_sequences) {
  auto cfg = small_config();
  cfg.max_num_seqs = 1;
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(admit(s, make_request(1, 20, 10)));
  ASSERT_FALSE(admit(s, make_request(2, 20, 10, 100)));
  std::vector<sequence_output> out;
  s.schedule();
  s.complete(out, pick);
  EXPECT_GT(s.kv().active_blocks(), 0u);
  EXPECT_TRUE(s.cancel(2));
  EXPECT_TRUE(s.cancel(1));
  EXPECT_FALSE(s.cancel(1));
  EXPECT_FALSE(s.has_work());
  EXPECT_EQ(s.kv().active_blocks(), 0u);
  EXPECT_EQ(s.kv_tokens(), 0u);
  EXPECT_EQ(s.prefill_tokens_pending(), 0u);
  EXPECT_EQ(s.waiting_count() + s.running_count(), 0u);
}

// What an index learns about one block from stored events.
struct indexed_block {
  uint64_t local = 0;
  std::optional<uint64_t> parent;
  friend bool operator==(const indexed_block&, const indexed_block&) = default;
};

// An index as a router would build it: sequence hash -> block.
using index_model = std::map<uint64_t, indexed_block>;

void apply_event(index_model& index, const engine::kv_event& ev) {
  switch (ev.type) {
    case engine::kv_event::kind::stored:
      ASSERT_EQ(ev.block_hashes.size(), ev.token_hashes.size());
      for (size_t i = 0; i < ev.block_hashes.size(); ++i)
        index[ev.block_hashes[i]] = indexed_block{
          ev.token_hashes[i], i == 0 ? ev.parent_hash : ev.block_hashes[i - 1]};
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

// Replays the scheduler's snapshot into an empty index, checking that every parent the
// snapshot holds comes before its children, and compares it with the index built from events.
void expect_snapshot_matches(const scheduler& s, const index_model& from_events, int iteration) {
  index_model replayed;
  for (const auto& ev : s.kv_snapshot()) {
    EXPECT_EQ(ev.event_id, 0u) << "iteration " << iteration;
    EXPECT_EQ(ev.type, engine::kv_event::kind::stored) << "iteration " << iteration;
    ASSERT_FALSE(ev.block_hashes.empty()) << "iteration " << iteration;
    if (ev.parent_hash && from_events.contains(*ev.parent_hash)) {
      EXPECT_TRUE(replayed.contains(*ev.parent_hash))
        << "iteration " << iteration << ": block " << ev.block_hashes[0]
        << " comes before its parent " << *ev.parent_hash;
    }
    for (auto h : ev.block_hashes) {
      EXPECT_FALSE(replayed.contains(h)) << "iteration " << iteration << ": block " << h
                                         << " appears twice in the snapshot";
    }
    apply_event(replayed, ev);
  }
  EXPECT_EQ(replayed.size(), from_events.size()) << "iteration " << iteration;
  EXPECT_TRUE(replayed == from_events)
    << "iteration " << iteration << ": the snapshot must describe exactly the blocks, local "
    << "hashes and parents that the events emitted so far describe";
}

TEST(scheduler, kv_snapshot_replays_to_what_the_emitted_events_describe) {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    auto cfg = small_config();  // 64 blocks of 4 tokens: the workload keeps evicting
    index_model from_events;
    uint64_t last_event_id = 0;
    uint64_t removals = 0;
    scheduler s{cfg, nullptr};
    s.set_kv_event_sink([&from_events, &last_event_id, &removals](const engine::kv_event& ev) {
      EXPECT_EQ(ev.event_id, last_event_id + 1) << "event ids ascend one by one";
      last_event_id = ev.event_id;
      removals += ev.type == engine::kv_event::kind::removed ? 1 : 0;
      apply_event(from_events, ev);
    });
    std::mt19937_64 rng{seed};
    // Shared prefixes (system prompts) from a small vocabulary, so that suffixes share too.
    std::vector<std::vector<token_id>> prefixes;
    for (size_t p = 0; p < 4; ++p) {
      std::vector<token_id> prefix(8 + rng() % 33);
      for (auto& t : prefix)
        t = static_cast<token_id>(1 + rng() % 6);
      prefixes.push_back(std::move(prefix));
    }
    std::vector<engine::request_id> live;
    engine::request_id next_id = 1;
    std::vector<sequence_output> out;
    for (int iteration = 0; iteration < 1200; ++iteration) {
      auto action = rng() % 10;
      if (action < 3) {
        auto req = make_request(next_id++, 0, 1 + static_cast<uint32_t>(rng() % 24));
        req.prompt = prefixes[rng() % prefixes.size()];
        for (auto n = rng() % 25; n > 0; --n)
          req.prompt.push_back(static_cast<token_id>(1 + rng() % 3));
        auto id = req.id;
        if (!admit(s, std::move(req)))
          live.push_back(id);
      } else if (action == 3 && !live.empty()) {
        auto pos = live.begin() + static_cast<ptrdiff_t>(rng() % live.size());
        EXPECT_TRUE(s.cancel(*pos));
        live.erase(pos);
      } else {
        s.schedule();
        out.clear();
        s.complete(out, pick);
        for (const auto& o : out)
          if (o.finish != finish_reason::none)
            std::erase(live, o.id);
      }
      if (iteration % 20 == 0)
        expect_snapshot_matches(s, from_events, iteration);
    }
    drain(s, cfg);
    expect_snapshot_matches(s, from_events, -1);
    EXPECT_GT(last_event_id, 100u) << "the workload must store many blocks";
    EXPECT_GT(removals, 10u) << "the workload must evict cached blocks";
    EXPECT_FALSE(from_events.empty());
  }
}

} // namespace
} // namespace dynamo::batching
