#include "dynamo/mocker/mocker_engine.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/mocker/output_tokens.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>
#include <set>

namespace dynamo::mocker {
namespace {

using engine::finish_reason;
using engine::kv_event;
using engine::sequence_request;
using engine::token_id;
using namespace std::chrono_literals;

constexpr int max_steps = 200000;

mocker_config test_config() {
  mocker_config cfg;
  cfg.block_size = 16;
  cfg.total_kv_blocks = 256;
  cfg.max_num_seqs = 16;
  cfg.max_num_batched_tokens = 256;
  cfg.max_model_len = 2048;
  return cfg;
}

sequence_request make_request(engine::request_id id, std::vector<token_id> prompt,
                              uint32_t max_tokens) {
  sequence_request req;
  req.id = id;
  req.prompt = std::move(prompt);
  req.stop.max_tokens = max_tokens;
  return req;
}

std::vector<token_id> prompt_of(size_t n, token_id first = 1) {
  std::vector<token_id> p(n);
  std::iota(p.begin(), p.end(), first);
  return p;
}

struct collected {
  std::map<engine::request_id, std::vector<token_id>> tokens;
  std::map<engine::request_id, finish_reason> finish;
  std::map<engine::request_id, int> first_output_step;
  std::map<engine::request_id, uint32_t> cached;
  int steps = 0;
};

// Steps the engine until idle (bounded), collecting outputs and checking stats each step.
collected drain(mocker_engine& eng) {
  collected c;
  while (eng.has_work()) {
    if (++c.steps > max_steps) {
      ADD_FAILURE() << "engine did not finish its work within " << max_steps << " steps";
      break;
    }
    auto r = eng.step();
    EXPECT_GE(r.delay.count(), 0);
    auto st = eng.stats();
    EXPECT_LE(st.active_kv_blocks + st.cached_kv_blocks, st.total_kv_blocks);
    EXPECT_LE(st.running_sequences, st.max_sequences);
    for (auto& o : r.outputs) {
      EXPECT_EQ(c.finish.count(o.id), 0u) << "output after finish for request " << o.id;
      c.first_output_step.try_emplace(o.id, c.steps);
      c.cached[o.id] = o.cached_prompt_tokens;
      auto& t = c.tokens[o.id];
      t.insert(t.end(), o.tokens.begin(), o.tokens.end());
      if (o.finish != finish_reason::none)
        c.finish[o.id] = o.finish;
    }
  }
  return c;
}

TEST(mocker_engine, make_validates_the_config) {
  auto cfg = test_config();
  cfg.speedup_ratio = 0;
  auto bad = mocker_engine::make(cfg, nullptr);
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), errc::invalid_request);
  auto good = mocker_engine::make(test_config(), nullptr);
  ASSERT_TRUE(good);
  EXPECT_EQ((*good)->name(), "mocker");
  EXPECT_FALSE((*good)->has_work());
  auto st = (*good)->stats();
  EXPECT_EQ(st.kv_block_size, 16u);
  EXPECT_EQ(st.total_kv_blocks, 256u);
  EXPECT_EQ(st.max_sequences, 16u);
  EXPECT_EQ(st.max_batched_tokens, 256u);
}

TEST(mocker_engine, first_token_arrives_with_the_step_that_completes_prefill) {
  mocker_engine eng{test_config(), nullptr};
  ASSERT_FALSE(eng.admit(make_request(7, prompt_of(600), 3)));
  EXPECT_EQ(eng.stats().waiting_sequences, 1u);
  EXPECT_EQ(eng.stats().prefill_tokens_pending, 600u);
  // 600 tokens at 256 per step: 256, 256, 88.
  for (int i = 0; i < 2; ++i) {
    auto r = eng.step();
    EXPECT_TRUE(r.outputs.empty()) << "no output mid chunked prefill (step " << i << ")";
    EXPECT_EQ(r.delay, timing_model{1.0}.step_delay(256, 0, 0));
  }
  EXPECT_EQ(eng.stats().prefill_tokens_pending, 88u);
  auto r = eng.step();
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].id, 7u);
  EXPECT_EQ(r.outputs[0].tokens.size(), 1u);
  EXPECT_EQ(r.outputs[0].prompt_tokens, 600u);
  EXPECT_EQ(r.outputs[0].cached_prompt_tokens, 0u);
  EXPECT_EQ(r.outputs[0].finish, finish_reason::none);
  EXPECT_EQ(eng.stats().running_sequences, 1u);
  EXPECT_EQ(eng.stats().active_kv_blocks, 38u) << "ceil(600 / 16) blocks";
  auto c = drain(eng);
  EXPECT_EQ(c.tokens[7].size(), 2u);
  EXPECT_EQ(c.finish[7], finish_reason::length);
  EXPECT_EQ(eng.stats().active_kv_blocks, 0u);
}

TEST(mocker_engine, decode_delay_follows_kv_utilisation_and_speedup) {
  auto cfg = test_config();
  cfg.speedup_ratio = 4.0;
  mocker_engine eng{cfg, nullptr};
  ASSERT_FALSE(eng.admit(make_request(1, prompt_of(100), 5)));
  auto prefill = eng.step();
  EXPECT_EQ(prefill.delay, timing_model{4.0}.step_delay(100, 0, 0));
  auto decode = eng.step();
  const double u = 101.0 / (256.0 * 16.0);
  EXPECT_EQ(decode.delay, timing_model{4.0}.step_delay(0, 1, u));
  EXPECT_NEAR(static_cast<double>(decode.delay.count()), decode_ms(u) * 1e6 / 4.0, 1.0);
}

TEST(mocker_engine, the_same_request_always_produces_the_same_tokens) {
  auto run = [](std::optional<uint64_t> seed, std::vector<token_id> prompt) {
    mocker_engine eng{test_config(), nullptr};
    auto req = make_request(1, std::move(prompt), 40);
    req.sampling.seed = seed;
    EXPECT_FALSE(eng.admit(std::move(req)));
    return drain(eng).tokens[1];
  };
  auto a = run(std::nullopt, prompt_of(50));
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(a, run(std::nullopt, prompt_of(50)));
  EXPECT_NE(a, run(std::nullopt, prompt_of(50, 2)));
  auto s1 = run(1, prompt_of(50));
  EXPECT_EQ(s1, run(1, prompt_of(50)));
  EXPECT_NE(s1, run(2, prompt_of(50)));
  for (auto t : a) {
    EXPECT_GE(t, 32u);
    EXPECT_LE(t, 126u);
  }
}

TEST(mocker_engine, batching_does_not_change_tokens) {
  mocker_engine alone{test_config(), nullptr};
  ASSERT_FALSE(alone.admit(make_request(1, prompt_of(40), 30)));
  auto expected = drain(alone).tokens[1];
  mocker_engine busy{test_config(), nullptr};
  for (engine::request_id id = 1; id <= 10; ++id)
    ASSERT_FALSE(busy.admit(make_request(id, prompt_of(40, id == 1 ? 1 : id * 100), 30)));
  EXPECT_EQ(drain(busy).tokens[1], expected);
}

TEST(mocker_engine, stop_token_ends_the_sequence_without_being_emitted) {
  auto req = make_request(1, prompt_of(10), 50);
  const auto stream = token_stream_seed(req, 0);
  const auto stop = output_token(stream, 2, 32, 126);
  // Everything before the first occurrence of the stop token (at position 2 at the latest).
  std::vector<token_id> expected;
  for (uint32_t pos = 0; output_token(stream, pos, 32, 126) != stop; ++pos)
    expected.push_back(output_token(stream, pos, 32, 126));
  ASSERT_LE(expected.size(), 2u);
  req.stop.stop_token_ids = {9999, stop};
  mocker_engine eng{test_config(), nullptr};
  ASSERT_FALSE(eng.admit(std::move(req)));
  auto c = drain(eng);
  EXPECT_EQ(c.finish[1], finish_reason::stop);
  EXPECT_EQ(c.tokens[1], expected);
  EXPECT_EQ(eng.stats().active_kv_blocks, 0u);
}

TEST(mocker_engine, eos_stops_unless_ignored) {
  auto req = make_request(1, prompt_of(10), 20);
  const auto first = output_token(token_stream_seed(req, 0), 0, 32, 126);
  auto cfg = test_config();
  cfg.eos_token_id = first;
  {
    mocker_engine eng{cfg, nullptr};
    ASSERT_FALSE(eng.admit(req));
    auto c = drain(eng);
    EXPECT_EQ(c.finish[1], finish_reason::stop);
    EXPECT_TRUE(c.tokens[1].empty());
  }
  {
    mocker_engine eng{cfg, nullptr};
    req.stop.ignore_eos = true;
    ASSERT_FALSE(eng.admit(req));
    auto c = drain(eng);
    EXPECT_EQ(c.finish[1], finish_reason::length);
    EXPECT_EQ(c.tokens[1].size(), 20u);
  }
}

TEST(mocker_engine, repeated_prompt_reports_cached_prompt_tokens) {
  mocker_engine eng{test_config(), nullptr};
  ASSERT_FALSE(eng.admit(make_request(1, prompt_of(100), 4)));
  auto first = drain(eng);
  EXPECT_EQ(first.cached[1], 0u);
  EXPECT_EQ(eng.stats().cached_kv_blocks, 6u) << "100 prompt + 3 computed outputs: 6 full blocks";
  ASSERT_FALSE(eng.admit(make_request(2, prompt_of(100), 4)));
  auto r = eng.step();
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].cached_prompt_tokens, 96u);
  EXPECT_EQ(r.delay, timing_model{1.0}.step_delay(4, 0, 0)) << "only 4 uncached tokens";
  auto rest = drain(eng);
  EXPECT_EQ(rest.cached[2], 96u) << "every output carries the cache hit";
}

TEST(mocker_engine, kv_events_describe_stored_and_removed_blocks) {
  auto cfg = test_config();
  cfg.total_kv_blocks = 8;
  cfg.block_size = 4;
  mocker_engine eng{cfg, nullptr};
  std::vector<kv_event> events;
  eng.set_kv_event_sink([&events](const kv_event& ev) { events.push_back(ev); });
  auto prompt = prompt_of(13);
  ASSERT_FALSE(eng.admit(make_request(1, prompt, 8)));
  drain(eng);
  ASSERT_FALSE(events.empty());
  // Stored events chain: each one's parent is the previous event's last hash.
  std::vector<uint64_t> stored;
  std::vector<uint64_t> local;
  for (const auto& ev : events) {
    ASSERT_EQ(ev.type, kv_event::kind::stored);
    ASSERT_EQ(ev.block_hashes.size(), ev.token_hashes.size());
    if (stored.empty())
      EXPECT_FALSE(ev.parent_hash);
    else
      EXPECT_EQ(ev.parent_hash, std::optional<uint64_t>{stored.back()});
    stored.insert(stored.end(), ev.block_hashes.begin(), ev.block_hashes.end());
    local.insert(local.end(), ev.token_hashes.begin(), ev.token_hashes.end());
  }
  // 13 prompt + 7 computed output tokens = 20 tokens = 5 full blocks.
  ASSERT_EQ(stored.size(), 5u);
  auto expected = engine::hash_blocks(prompt, 4);
  EXPECT_EQ(std::vector(stored.begin(), stored.begin() + 3), expected.sequence);
  EXPECT_EQ(std::vector(local.begin(), local.begin() + 3), expected.local);
  EXPECT_EQ(engine::sequence_hashes(local), stored);

  // A different prompt that needs every block evicts the cached ones.
  const auto before = events.size();
  ASSERT_FALSE(eng.admit(make_request(2, prompt_of(32, 500), 1)));
  drain(eng);
  std::set<uint64_t> removed;
  for (size_t i = before; i < events.size(); ++i)
    if (events[i].type == kv_event::kind::removed)
      removed.insert(events[i].block_hashes.begin(), events[i].block_hashes.end());
  EXPECT_EQ(removed.size(), 5u);
  for (auto h : stored)
    EXPECT_TRUE(removed.contains(h)) << "stored block " << h << " should have been removed";
  for (size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(events[i].event_id, i + 1) << "event ids increase by one from 1";
}

TEST(mocker_engine, kv_snapshot_lists_the_cached_blocks_as_one_chain) {
  auto cfg = test_config();
  cfg.total_kv_blocks = 16;
  cfg.block_size = 4;
  mocker_engine eng{cfg, nullptr};
  EXPECT_TRUE(eng.kv_snapshot().empty()) << "nothing is cached before any request";
  auto prompt = prompt_of(13);
  ASSERT_FALSE(eng.admit(make_request(1, prompt, 8)));
  drain(eng);
  auto snap = eng.kv_snapshot();
  ASSERT_EQ(snap.size(), 1u) << "one sequence's blocks form one chain run";
  EXPECT_EQ(snap[0].event_id, 0u);
  EXPECT_EQ(snap[0].type, kv_event::kind::stored);
  EXPECT_FALSE(snap[0].parent_hash);
  // 13 prompt + 7 computed output tokens = 5 full blocks; the first 3 are the prompt's.
  ASSERT_EQ(snap[0].block_hashes.size(), 5u);
  auto expected = engine::hash_blocks(prompt, 4);
  EXPECT_EQ(std::vector(snap[0].block_hashes.begin(), snap[0].block_hashes.begin() + 3),
            expected.sequence);
  EXPECT_EQ(std::vector(snap[0].token_hashes.begin(), snap[0].token_hashes.begin() + 3),
            expected.local);
}

TEST(mocker_engine, cancel_frees_all_blocks_and_silences_the_sequence) {
  mocker_engine eng{test_config(), nullptr};
  for (engine::request_id id = 1; id <= 20; ++id)
    ASSERT_FALSE(eng.admit(make_request(id, prompt_of(64, id * 1000), 100)));
  for (int i = 0; i < 8; ++i)
    eng.step();
  auto st = eng.stats();
  EXPECT_GT(st.active_kv_blocks, 0u);
  EXPECT_EQ(st.running_sequences, 16u);
  EXPECT_EQ(st.waiting_sequences, 4u);
  EXPECT_TRUE(eng.cancel(3));
  EXPECT_TRUE(eng.cancel(20));
  EXPECT_FALSE(eng.cancel(20)) << "already cancelled";
  EXPECT_FALSE(eng.cancel(999));
  auto r = eng.step();
  for (auto& o : r.outputs) {
    EXPECT_NE(o.id, 3u);
    EXPECT_NE(o.id, 20u);
  }
  for (engine::request_id id = 1; id <= 20; ++id)
    eng.cancel(id);
  st = eng.stats();
  EXPECT_FALSE(eng.has_work());
  EXPECT_EQ(st.active_kv_blocks, 0u);
  EXPECT_EQ(st.running_sequences, 0u);
  EXPECT_EQ(st.waiting_sequences, 0u);
  EXPECT_EQ(st.prefill_tokens_pending, 0u);
  EXPECT_TRUE(eng.step().outputs.empty());
}

TEST(mocker_engine, rejects_impossible_requests_and_overload) {
  auto cfg = test_config();
  cfg.max_waiting = 3;
  cfg.total_kv_blocks = 4;
  mocker_engine eng{cfg, nullptr};
  EXPECT_EQ(classify(eng.admit(make_request(1, {}, 4))), errc::invalid_request);
  EXPECT_EQ(classify(eng.admit(make_request(1, prompt_of(2000), 100))), errc::invalid_request);
  EXPECT_EQ(classify(eng.admit(make_request(1, prompt_of(60), 10))), errc::invalid_request)
    << "69 KV tokens need 5 blocks of 16";
  for (engine::request_id id = 1; id <= 3; ++id)
    ASSERT_FALSE(eng.admit(make_request(id, prompt_of(8), 2)));
  auto err = eng.admit(make_request(4, prompt_of(8), 2));
  EXPECT_EQ(classify(err), errc::overloaded);
  EXPECT_EQ(classify(eng.admit(make_request(2, prompt_of(8), 2))), errc::invalid_request)
    << "duplicate id";
}

TEST(mocker_engine, random_workload_finishes_with_consistent_stats) {
  auto cfg = test_config();
  cfg.total_kv_blocks = 128;  // 2048 tokens: tight enough to preempt
  cfg.max_num_seqs = 24;
  cfg.max_num_batched_tokens = 192;
  cfg.max_waiting = 64;
  cfg.speedup_ratio = 1000;
  mocker_engine eng{cfg, nullptr};
  uint64_t events = 0;
  uint64_t last_event_id = 0;
  eng.set_kv_event_sink([&events, &last_event_id](const kv_event& ev) {
    EXPECT_GT(ev.event_id, last_event_id);
    last_event_id = ev.event_id;
    ++events;
  });
  std::mt19937_64 rng{20240611};
  std::vector<std::vector<token_id>> prefixes;
  for (int i = 0; i < 4; ++i)
    prefixes.push_back(prompt_of(64, static_cast<token_id>(10000 * (i + 1))));
  std::map<engine::request_id, uint32_t> max_tokens;
  std::map<engine::request_id, std::vector<token_id>> tokens;
  std::map<engine::request_id, finish_reason> finish;
  engine::request_id next = 1;
  constexpr engine::request_id total = 200;
  int steps = 0;
  while (next <= total || eng.has_work()) {
    ASSERT_LT(++steps, max_steps) << "expected all 200 requests to finish";
    // Admit a few new requests per step while the queue has room.
    for (int k = std::uniform_int_distribution<int>{0, 3}(rng); k > 0 && next <= total; --k) {
      std::vector<token_id> prompt;
      if (rng() % 2 == 0)
        prompt = prefixes[rng() % prefixes.size()];
      auto extra = std::uniform_int_distribution<uint32_t>{1, 200}(rng);
      for (uint32_t j = 0; j < extra; ++j)
        prompt.push_back(static_cast<token_id>(rng() % 50000));
      auto mt = std::uniform_int_distribution<uint32_t>{1, 64}(rng);
      auto err = eng.admit(make_request(next, std::move(prompt), mt));
      if (err) {
        ASSERT_EQ(classify(err), errc::overloaded) << describe(err);
        break;
      }
      max_tokens[next++] = mt;
    }
    auto r = eng.step();
    auto st = eng.stats();
    ASSERT_LE(st.active_kv_blocks + st.cached_kv_blocks, st.total_kv_blocks);
    ASSERT_LE(st.running_sequences, cfg.max_num_seqs);
    for (auto& o : r.outputs) {
      ASSERT_FALSE(finish.contains(o.id)) << "output after finish for " << o.id;
      tokens[o.id].insert(tokens[o.id].end(), o.tokens.begin(), o.tokens.end());
      if (o.finish != finish_reason::none)
        finish[o.id] = o.finish;
    }
  }
  ASSERT_EQ(finish.size(), total);
  for (auto& [id, mt] : max_tokens) {
    EXPECT_EQ(finish[id], finish_reason::length) << id;
    EXPECT_EQ(tokens[id].size(), mt) << id;
  }
  auto st = eng.stats();
  EXPECT_EQ(st.active_kv_blocks, 0u);
  EXPECT_EQ(st.running_sequences, 0u);
  EXPECT_EQ(st.waiting_sequences, 0u);
  EXPECT_EQ(st.prefill_tokens_pending, 0u);
  EXPECT_GT(st.cached_kv_blocks, 0u);
  EXPECT_GT(events, 0u);
  EXPECT_GT(eng.preemptions(), 0u) << "the workload is sized to exhaust the pool";
}

} // namespace
} // namespace dynamo::mocker
