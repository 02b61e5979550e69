#include "dynamo/reference/model_runner.hpp"

#include "dynamo/error.hpp"
#include "dynamo/reference/test_model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace dynamo::reference {
namespace {

using testing::temp_model;
using testing::tiny_config;

constexpr uint32_t block_size = 4;

std::unique_ptr<model_runner> load_runner(const temp_model& m, uint32_t threads = 2,
                                          uint64_t blocks = 64) {
  auto ckpt = model::open_checkpoint(m.dir());
  EXPECT_TRUE(ckpt) << (ckpt ? "" : describe(ckpt.error()));
  if (!ckpt)
    return nullptr;
  runner_options opts;
  opts.threads = threads;
  opts.block_size = block_size;
  opts.kv_blocks = blocks;
  auto runner = model_runner::load(*ckpt, opts, nullptr);
  EXPECT_TRUE(runner) << (runner ? "" : describe(runner.error()));
  return runner ? std::move(*runner) : nullptr;
}

std::vector<engine::token_id> prompt(size_t n, uint32_t seed, uint32_t vocab = 61) {
  std::mt19937 rng{seed};
  std::vector<engine::token_id> out(n);
  for (auto& t : out)
    t = rng() % vocab;
  return out;
}

// The table [first, first + n).
std::vector<uint32_t> blocks_from(uint32_t first, size_t n) {
  std::vector<uint32_t> out(n);
  std::iota(out.begin(), out.end(), first);
  return out;
}

// Logits after each prefix of `tokens`, computed one token per call.
std::vector<std::vector<float>> token_by_token(model_runner& r,
                                               const std::vector<engine::token_id>& tokens,
                                               const std::vector<uint32_t>& table) {
  std::vector<std::vector<float>> out;
  std::vector<float> logits;
  for (size_t i = 0; i < tokens.size(); ++i) {
    forward_item it{std::span{tokens}.subspan(i, 1), static_cast<uint32_t>(i), table, true};
    r.forward({&it, 1}, logits);
    out.push_back(logits);
  }
  return out;
}

void expect_close(std::span<const float> a, std::span<const float> b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(a[i])) << what << " at " << i;
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  EXPECT_LE(worst, 1e-4f) << what;
}

class runner_test : public ::testing::TestWithParam<bool> {};

TEST_P(runner_test, prefill_equals_token_by_token_and_chunked_prefill) {
  temp_model m{tiny_config(GetParam())};
  auto r = load_runner(m);
  ASSERT_TRUE(r);
  auto tokens = prompt(13, 5);
  auto table = blocks_from(0, 4);
  auto expected = token_by_token(*r, tokens, table);
  // Everything in one call.
  std::vector<float> logits;
  forward_item all{tokens, 0, table, true};
  r->forward({&all, 1}, logits);
  ASSERT_EQ(logits.size(), 61u);
  expect_close(logits, expected.back(), "one prefill call vs token by token");
  // Chunks of 5, 1 and 7 tokens, reusing the cached KV of the earlier chunks.
  size_t pos = 0;
  for (size_t len : {5u, 1u, 7u}) {
    forward_item chunk{std::span{tokens}.subspan(pos, len), static_cast<uint32_t>(pos), table,
                       true};
    r->forward({&chunk, 1}, logits);
    pos += len;
    expect_close(logits, expected[pos - 1], "chunked prefill vs token by token");
  }
  // The logits depend on the context: different prompts give different logits.
  EXPECT_GT(std::abs(expected[3][0] - expected[4][0]) + std::abs(expected[3][1] - expected[4][1]),
            0.0f);
}

TEST_P(runner_test, batched_items_equal_each_alone) {
  temp_model m{tiny_config(GetParam())};
  auto r = load_runner(m);
  ASSERT_TRUE(r);
  auto a = prompt(9, 1);
  auto b = prompt(6, 2);
  auto c = prompt(3, 3);
  auto ta = blocks_from(0, 4);
  auto tb = blocks_from(10, 4);
  auto tc = blocks_from(20, 4);
  // Alone: a prefilled in full, b prefilled except its last token, c prefilled.
  std::vector<float> a_alone, b_alone, c_alone, scratch;
  forward_item ia{a, 0, ta, true};
  r->forward({&ia, 1}, a_alone);
  forward_item ib{std::span{b}.first(5), 0, tb, true};
  r->forward({&ib, 1}, scratch);
  forward_item ib_last{std::span{b}.subspan(5), 5, tb, true};
  r->forward({&ib_last, 1}, b_alone);
  forward_item ic{c, 0, tc, true};
  r->forward({&ic, 1}, c_alone);
  // Together, in fresh blocks: prefill of a, decode of b's last token (its first five are
  // already cached in tb), prefill of c without logits.
  auto ta2 = blocks_from(30, 4);
  auto tc2 = blocks_from(40, 4);
  std::vector<forward_item> batch{{a, 0, ta2, true}, {std::span{b}.subspan(5), 5, tb, true},
                                  {c, 0, tc2, false}};
  std::vector<float> logits;
  r->forward(batch, logits);
  ASSERT_EQ(logits.size(), 3u * 61u);
  expect_close(std::span{logits}.first(61), a_alone, "item a in a batch vs alone");
  expect_close(std::span{logits}.subspan(61, 61), b_alone, "item b in a batch vs alone");
  // c's KV was written even without logits: a decode step on it matches.
  auto next = prompt(1, 9);
  std::vector<float> c_next_batched, c_next_alone;
  forward_item c2{next, 3, tc2, true};
  r->forward({&c2, 1}, c_next_batched);
  forward_item c1{next, 3, tc, true};
  r->forward({&c1, 1}, c_next_alone);
  expect_close(c_next_batched, c_next_alone, "KV written by an item without logits");
}

TEST_P(runner_test, shuffled_block_tables_give_identical_logits) {
  temp_model m{tiny_config(GetParam())};
  auto r = load_runner(m);
  ASSERT_TRUE(r);
  auto tokens = prompt(15, 8);
  std::vector<float> straight, shuffled;
  auto t1 = blocks_from(0, 4);
  forward_item i1{tokens, 0, t1, true};
  r->forward({&i1, 1}, straight);
  std::vector<uint32_t> t2{57, 3, 40, 22};
  forward_item i2{tokens, 0, t2, true};
  r->forward({&i2, 1}, shuffled);
  EXPECT_EQ(straight, shuffled);
  // The KV of the shuffled table lives in block 40 for positions 8..11.
  const auto& g = r->kv().geometry();
  EXPECT_EQ(g.block_size, block_size);
  auto* k = r->kv().keys(0, 40);
  EXPECT_TRUE(std::any_of(k, k + g.half_floats(), [](float x) { return x != 0.0f; }));
}

TEST_P(runner_test, thread_count_does_not_change_results) {
  temp_model m{tiny_config(GetParam())};
  auto one = load_runner(m, 1);
  auto three = load_runner(m, 3);
  ASSERT_TRUE(one && three);
  EXPECT_EQ(one->threads(), 1u);
  EXPECT_EQ(three->threads(), 3u);
  auto tokens = prompt(11, 4);
  auto table = blocks_from(0, 3);
  std::vector<float> a, b;
  forward_item it{tokens, 0, table, true};
  one->forward({&it, 1}, a);
  three->forward({&it, 1}, b);
  EXPECT_EQ(a, b);
}

INSTANTIATE_TEST_SUITE_P(model_runner, runner_test, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "qwen2" : "llama"; });

TEST(model_runner, exposes_config_and_kv_geometry) {
  temp_model m{tiny_config()};
  auto r = load_runner(m, 2, 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config().hidden_size, 32u);
  const auto& g = r->kv().geometry();
  EXPECT_EQ(g.layers, 2u);
  EXPECT_EQ(g.kv_heads, 2u);
  EXPECT_EQ(g.head_dim, 8u);
  EXPECT_EQ(g.blocks, 10u);
  EXPECT_EQ(r->kv().bytes().size(), g.total_bytes());
  std::vector<float> logits{1, 2, 3};
  r->forward({}, logits);
  EXPECT_TRUE(logits.empty());
}

TEST(model_runner, rejects_bad_options) {
  temp_model m{tiny_config()};
  auto ckpt = model::open_checkpoint(m.dir());
  ASSERT_TRUE(ckpt);
  runner_options opts;
  opts.block_size = 0;
  auto r = model_runner::load(*ckpt, opts, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::invalid_request);
  opts.block_size = 16;
  opts.kv_blocks = uint64_t{1} << 60;
  r = model_runner::load(*ckpt, opts, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::invalid_request);
  EXPECT_NE(client_message(r.error()).find("block id range"), std::string::npos);
}

TEST(model_runner, sliding_window_limits_the_positions) {
  auto cfg = tiny_config();
  cfg.architecture = "MistralForCausalLM";
  cfg.model_type = "mistral";
  cfg.sliding_window = 100;
  temp_model m{cfg};
  auto r = load_runner(m);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config().max_position_embeddings, 100u);
}

TEST(model_runner_death, violated_preconditions_abort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  temp_model m{tiny_config()};
  auto r = load_runner(m, 1, 4);
  ASSERT_TRUE(r);
  std::vector<float> logits;
  std::vector<engine::token_id> bad_token{61};
  auto table = blocks_from(0, 1);
  forward_item it{bad_token, 0, table, true};
  EXPECT_DEATH(r->forward({&it, 1}, logits), "vocabulary");
  std::vector<engine::token_id> five(5, 1);
  forward_item short_table{five, 0, table, true};
  EXPECT_DEATH(r->forward({&short_table, 1}, logits), "blocks");
}

} // namespace
} // namespace dynamo::reference
