// Split prefill/decode in the scheduler: hold_kv sequences, admit_remote / complete_remote.
#include "dynamo/batching/scheduler.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <numeric>

namespace dynamo::batching {
namespace {

using engine::finish_reason;
using engine::sequence_output;
using engine::sequence_request;
using engine::token_id;

scheduler_config small_config() {
  scheduler_config cfg;
  cfg.block_size = 4;
  cfg.total_kv_blocks = 32;
  cfg.max_num_seqs = 4;
  cfg.max_num_batched_tokens = 32;
  cfg.max_model_len = 256;
  cfg.admission_watermark = 0.0;
  return cfg;
}

sequence_request make_request(engine::request_id id, uint32_t prompt_len, uint32_t max_tokens,
                              bool hold_kv = false) {
  sequence_request req;
  req.id = id;
  req.prompt.resize(prompt_len);
  std::iota(req.prompt.begin(), req.prompt.end(), token_id{1});
  req.stop.max_tokens = max_tokens;
  req.hold_kv = hold_kv;
  return req;
}

// Deterministic in (stream seed, generated), like a seeded sampler.
token_id test_token(const sequence& seq, size_t) {
  uint64_t x = seq.stream_seed * 0x9E3779B97F4A7C15ull + seq.generated + 1;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<token_id>(32 + x % 95);
}

const scheduler::token_picker pick = test_token;

struct run {
  std::map<engine::request_id, std::vector<token_id>> tokens;
  std::map<engine::request_id, finish_reason> finish;
  std::map<engine::request_id, uint32_t> cached;
};

run drain(scheduler& s) {
  run result;
  std::vector<sequence_output> out;
  for (int steps = 0; s.has_work(); ++steps) {
    if (steps > 10000) {
      ADD_FAILURE() << "expected the scheduler to drain within 10000 steps";
      break;
    }
    s.schedule();
    out.clear();
    s.complete(out, pick);
    for (auto& o : out) {
      EXPECT_EQ(result.finish.count(o.id), 0u) << "output after the finish of " << o.id;
      auto& toks = result.tokens[o.id];
      toks.insert(toks.end(), o.tokens.begin(), o.tokens.end());
      result.cached[o.id] = o.cached_prompt_tokens;
      if (o.finish != finish_reason::none)
        result.finish[o.id] = o.finish;
    }
  }
  return result;
}

TEST(scheduler_split, split_prefill_and_decode_equal_an_aggregated_run) {
  for (uint32_t prompt_len : {1u, 3u, 4u, 9u, 16u}) {
    SCOPED_TRACE("prompt length " + std::to_string(prompt_len));
    const auto cfg = small_config();
    scheduler prefill{cfg, nullptr};
    scheduler decode{cfg, nullptr};
    scheduler aggregated{cfg, nullptr};
    ASSERT_FALSE(aggregated.admit(make_request(1, prompt_len, 6), 77));
    const auto want = drain(aggregated);

    ASSERT_FALSE(prefill.admit(make_request(1, prompt_len, 1, true), 77));
    const auto first = drain(prefill);
    ASSERT_EQ(first.tokens.at(1).size(), 1u);
    EXPECT_EQ(first.finish.at(1), finish_reason::length);
    auto held = prefill.held_blocks(1);
    ASSERT_TRUE(held) << describe(held.error());
    EXPECT_EQ(held->tokens, prompt_len);
    EXPECT_EQ(held->blocks.size(), (prompt_len + 3) / 4);
    EXPECT_EQ(prefill.stats().held_kv_blocks, held->blocks.size());
    EXPECT_EQ(prefill.stats().active_kv_blocks, held->blocks.size());

    auto remote = decode.admit_remote(make_request(1, prompt_len, 6), 77);
    ASSERT_TRUE(remote) << describe(remote.error());
    EXPECT_EQ(remote->blocks.size(), held->blocks.size());
    EXPECT_EQ(remote->cached_tokens, 0u);
    EXPECT_FALSE(decode.has_work()) << "an awaiting sequence is not schedulable work";
    EXPECT_EQ(decode.stats().awaiting_kv_sequences, 1u);
    ASSERT_FALSE(decode.complete_remote(1, first.tokens.at(1).front()));
    EXPECT_EQ(decode.stats().awaiting_kv_sequences, 0u);
    const auto got = drain(decode);
    EXPECT_EQ(got.tokens.at(1), want.tokens.at(1));
    EXPECT_EQ(got.finish.at(1), finish_reason::length);

    EXPECT_TRUE(prefill.release_held(1));
    EXPECT_FALSE(prefill.release_held(1)) << "a second release finds nothing";
    EXPECT_EQ(prefill.stats().active_kv_blocks, 0u);
    EXPECT_EQ(prefill.stats().held_kv_blocks, 0u);
    EXPECT_EQ(decode.stats().active_kv_blocks, 0u);
    EXPECT_EQ(decode.kv_tokens(), 0u);
    EXPECT_EQ(prefill.kv_tokens(), 0u);
  }
}

TEST(scheduler_split, admit_remote_reuses_a_cached_prefix) {
  const auto cfg = small_config();
  scheduler s{cfg, nullptr};
  ASSERT_FALSE(s.admit(make_request(1, 10, 1), 1));
  drain(s);  // blocks 0 and 1 of the 1..10 prompt are cached now
  auto partial = s.admit_remote(make_request(2, 11, 3), 2);
  ASSERT_TRUE(partial) << describe(partial.error());
  EXPECT_EQ(partial->cached_tokens, 8u);
  EXPECT_EQ(partial->blocks.size(), 3u);
  ASSERT_FALSE(s.complete_remote(2, 40));
  const auto out = drain(s);
  EXPECT_EQ(out.tokens.at(2).size(), 3u);
  EXPECT_EQ(out.tokens.at(2).front(), 40u);
  EXPECT_EQ(out.cached.at(2), 8u);
  // A block-aligned, fully cached prompt needs no transfer at all.
  auto full = s.admit_remote(make_request(3, 8, 2), 3);
  ASSERT_TRUE(full) << describe(full.error());
  EXPECT_EQ(full->cached_tokens, 8u);
  EXPECT_EQ(full->blocks.size(), 2u);
  ASSERT_FALSE(s.complete_remote(3, 41));
  EXPECT_EQ(drain(s).tokens.at(3).size(), 2u);
  EXPECT_EQ(s.stats().active_kv_blocks, 0u);
}

TEST(scheduler_split, complete_remote_registers_the_prompt_and_reports_the_first_token_next) {
  const auto cfg = small_config();
  scheduler s{cfg, nullptr};
  std::vector<engine::kv_event> events;
  s.set_kv_event_sink([&events](const engine::kv_event& ev) { events.push_back(ev); });
  auto remote = s.admit_remote(make_request(5, 9, 1), 5);
  ASSERT_TRUE(remote) << describe(remote.error());
  EXPECT_TRUE(events.empty()) << "nothing is cached before the KV arrived";
  ASSERT_FALSE(s.complete_remote(5, 50));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, engine::kv_event::kind::stored);
  EXPECT_EQ(events[0].block_hashes.size(), 2u) << "two full prompt blocks";
  // max_tokens 1: finished at once; its blocks are released, the output waits for complete().
  EXPECT_EQ(s.stats().active_kv_blocks, 0u);
  EXPECT_EQ(s.stats().cached_kv_blocks, 2u);
  ASSERT_TRUE(s.has_work()) << "the queued first token is work";
  s.schedule();
  std::vector<sequence_output> out;
  s.complete(out, pick);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 5u);
  EXPECT_THAT(out[0].tokens, ::testing::ElementsAre(50u));
  EXPECT_EQ(out[0].finish, finish_reason::length);
  EXPECT_EQ(out[0].prompt_tokens, 9u);
  EXPECT_FALSE(s.has_work());
}

TEST(scheduler_split, a_stop_token_from_the_prefill_side_ends_the_sequence) {
  auto cfg = small_config();
  cfg.eos_token_id = 2;
  scheduler s{cfg, nullptr};
  ASSERT_TRUE(s.admit_remote(make_request(1, 5, 8), 1));
  ASSERT_FALSE(s.complete_remote(1, 2));
  const auto out = drain(s);
  EXPECT_TRUE(out.tokens.at(1).empty());
  EXPECT_EQ(out.finish.at(1), finish_reason::stop);
  EXPECT_EQ(s.stats().active_kv_blocks, 0u);
}

TEST(scheduler_split, cancel_frees_awaiting_and_held_sequences_and_queued_outputs) {
  const auto cfg = small_config();
  scheduler s{cfg, nullptr};
  ASSERT_TRUE(s.admit_remote(make_request(1, 9, 4), 1));
  EXPECT_EQ(s.stats().active_kv_blocks, 3u);
  EXPECT_TRUE(s.cancel(1));
  EXPECT_EQ(s.stats().active_kv_blocks, 0u);
  EXPECT_EQ(s.stats().awaiting_kv_sequences, 0u);
  EXPECT_EQ(classify(s.complete_remote(1, 40)), errc::not_found) << "cancelled: unknown now";

  ASSERT_FALSE(s.admit(make_request(2, 6, 1, true), 2));
  drain(s);
  EXPECT_EQ(s.stats().held_kv_blocks, 2u);
  EXPECT_TRUE(s.cancel(2));
  EXPECT_EQ(s.stats().held_kv_blocks, 0u);
  EXPECT_EQ(s.stats().active_kv_blocks, 0u);

  ASSERT_TRUE(s.admit_remote(make_request(3, 5, 4), 3));
  ASSERT_FALSE(s.complete_remote(3, 40));
  EXPECT_TRUE(s.cancel(3));
  EXPECT_FALSE(s.has_work()) << "the queued first token of a cancelled sequence is dropped";
  EXPECT_EQ(s.stats().active_kv_blocks, 0u);
}

TEST(scheduler_split, errors_are_typed) {
  const auto cfg = small_config();
  scheduler s{cfg, nullptr};
  EXPECT_EQ(classify(s.complete_remote(9, 1)), errc::not_found);
  EXPECT_EQ(classify(s.held_blocks(9).error()), errc::not_found);
  EXPECT_EQ(classify(s.admit(make_request(1, 4, 2, true), 1)), errc::invalid_request)
    << "hold_kv needs max_tokens 1";
  EXPECT_EQ(classify(s.admit_remote(make_request(1, 4, 1, true), 1).error()),
            errc::invalid_request);
  EXPECT_EQ(classify(s.admit_remote(make_request(1, 0, 1), 1).error()), errc::invalid_request);
  ASSERT_TRUE(s.admit_remote(make_request(1, 4, 2), 1));
  EXPECT_EQ(classify(s.admit_remote(make_request(1, 4, 2), 1).error()), errc::invalid_request)
    << "duplicate id";
  ASSERT_FALSE(s.complete_remote(1, 40));
  EXPECT_EQ(classify(s.complete_remote(1, 40)), errc::invalid_request) << "completed twice";
  EXPECT_EQ(classify(s.held_blocks(1).error()), errc::not_found) << "running, not held";
  drain(s);
  // 32 blocks of 4: a 128-token prompt takes the pool whole; the next one must wait.
  ASSERT_TRUE(s.admit_remote(make_request(2, 128, 1), 2));
  auto more = s.admit_remote(make_request(3, 8, 1), 3);
  ASSERT_FALSE(more);
  EXPECT_EQ(classify(more.error()), errc::overloaded);
  EXPECT_TRUE(s.cancel(2));
  EXPECT_TRUE(s.admit_remote(make_request(3, 8, 1), 3)) << "room again after the cancel";
  EXPECT_EQ(classify(s.admit_remote(make_request(4, 200, 1), 4).error()), errc::invalid_request)
    << "can never fit";
  EXPECT_TRUE(s.cancel(3));
  for (engine::request_id id = 10; id < 14; ++id)
    ASSERT_TRUE(s.admit_remote(make_request(id, 4, 1), id));
  EXPECT_EQ(classify(s.admit_remote(make_request(20, 4, 1), 20).error()), errc::overloaded)
    << "max_num_seqs counts awaiting sequences";
}

} // namespace
} // namespace dynamo::batching
