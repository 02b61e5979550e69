#include "dynamo/reference/reference_engine.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/model/model_config.hpp"
#include "dynamo/model/synthesize.hpp"
#include "dynamo/testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

using namespace dynamo;
using namespace dynamo::reference;
namespace fs = std::filesystem;
using dynamo::engine::finish_reason;
using dynamo::engine::sequence_request;
using dynamo::engine::token_id;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary};
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// One synthesized "tiny" checkpoint per test binary (2 layers, hidden 64, 4 heads / 2 kv heads,
// head size 16, vocabulary 512, bf16 weights), in a private temporary directory. Its embeddings
// are untied: a random model with tied embeddings mostly repeats its input token, which would
// make equal outputs prove little.
class tiny_model_environment : public ::testing::Environment {
public:
  void SetUp() override {
    dir_ = std::make_unique<dynamo::testing::temp_dir>("reference-engine");
    auto spec = model::synth_preset("tiny");
    ASSERT_TRUE(spec) << describe(spec.error());
    spec->tie_word_embeddings = false;
    auto err = model::synthesize(*spec, *dir_ / "tiny", nullptr);
    ASSERT_FALSE(err) << describe(err);
  }
  void TearDown() override { dir_.reset(); }
  static const fs::path& dir() { return dir_->path(); }

private:
  static inline std::unique_ptr<dynamo::testing::temp_dir> dir_;
};

[[maybe_unused]] auto* const tiny_env =
  ::testing::AddGlobalTestEnvironment(new tiny_model_environment);

// Prompts use ids below 96 (all valid in the 512-entry vocabulary).
constexpr uint32_t prompt_vocab = 96;

fs::path tiny_dir() {
  return tiny_model_environment::dir() / "tiny";
}

reference_config small_config(fs::path dir = tiny_dir()) {
  reference_config cfg;
  cfg.model_dir = std::move(dir);
  cfg.threads = 2;
  cfg.block_size = 4;
  cfg.total_kv_blocks = 256;
  cfg.max_num_seqs = 16;
  cfg.max_num_batched_tokens = 512;
  cfg.max_model_len = 256;
  cfg.seed = 7;
  return cfg;
}

std::unique_ptr<reference_engine> make_engine(const reference_config& cfg) {
  auto eng = reference_engine::make(cfg, nullptr);
  if (!eng) {
    ADD_FAILURE() << "make failed: " << describe(eng.error());
    return nullptr;
  }
  return std::move(*eng);
}

sequence_request request(dynamo::engine::request_id id, std::vector<token_id> prompt,
                         uint32_t max_tokens = 8, float temperature = 0.0f,
                         std::optional<uint64_t> seed = std::nullopt) {
  sequence_request r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.stop.max_tokens = max_tokens;
  r.stop.ignore_eos = true;
  r.sampling.temperature = temperature;
  r.sampling.top_p = temperature > 0.0f ? 0.9f : 1.0f;
  r.sampling.seed = seed;
  return r;
}

std::vector<token_id> prompt_of(uint32_t seed, size_t len) {
  std::vector<token_id> out(len);
  for (size_t i = 0; i < len; ++i)
    out[i] = static_cast<token_id>((seed * 31 + i * 17 + (i * i) % 7) % (prompt_vocab - 2) + 1);
  return out;
}

struct result {
  std::vector<token_id> tokens;
  finish_reason finish = finish_reason::none;
  uint32_t cached_prompt_tokens = 0;
  uint32_t prompt_tokens = 0;
};

// Steps until no work is left (bounded); collects every request's output.
std::map<dynamo::engine::request_id, result> drain(reference_engine& eng) {
  std::map<dynamo::engine::request_id, result> out;
  for (int steps = 0; eng.has_work(); ++steps) {
    if (steps > 5000) {
      ADD_FAILURE() << "the engine did not finish its work within 5000 steps";
      break;
    }
    for (auto& o : eng.step().outputs) {
      auto& r = out[o.id];
      EXPECT_EQ(r.finish, finish_reason::none) << "output after the finish of " << o.id;
      r.tokens.insert(r.tokens.end(), o.tokens.begin(), o.tokens.end());
      r.finish = o.finish;
      r.cached_prompt_tokens = o.cached_prompt_tokens;
      r.prompt_tokens = o.prompt_tokens;
    }
  }
  return out;
}

// Admits `req` alone and runs it to completion.
result run_one(reference_engine& eng, sequence_request req) {
  const auto id = req.id;
  auto err = eng.admit(std::move(req));
  EXPECT_FALSE(err) << describe(err);
  return drain(eng)[id];
}

std::vector<sequence_request> six_requests(float temperature) {
  std::vector<sequence_request> out;
  for (uint32_t i = 0; i < 6; ++i)
    out.push_back(request(100 + i, prompt_of(i, 3 + i * 5), 6 + i, temperature,
                          temperature > 0 ? std::optional<uint64_t>{1000 + i} : std::nullopt));
  return out;
}

std::map<dynamo::engine::request_id, result> run_together(const reference_config& cfg,
                                                          std::vector<sequence_request> reqs) {
  auto eng = make_engine(cfg);
  if (!eng)
    return {};
  for (auto& r : reqs) {
    auto err = eng->admit(std::move(r));
    EXPECT_FALSE(err) << describe(err);
  }
  return drain(*eng);
}

std::map<dynamo::engine::request_id, result> run_apart(const reference_config& cfg,
                                                       std::vector<sequence_request> reqs) {
  std::map<dynamo::engine::request_id, result> out;
  for (auto& r : reqs) {
    auto eng = make_engine(cfg);
    if (!eng)
      return {};
    const auto id = r.id;
    out[id] = run_one(*eng, std::move(r));
  }
  return out;
}

void expect_same_tokens(const std::map<dynamo::engine::request_id, result>& a,
                        const std::map<dynamo::engine::request_id, result>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [id, r] : a) {
    ASSERT_TRUE(b.contains(id)) << id;
    EXPECT_EQ(r.tokens, b.at(id).tokens) << "request " << id;
    EXPECT_EQ(r.finish, b.at(id).finish) << "request " << id;
  }
}

} // namespace

TEST(reference_engine, make_rejects_a_bad_config_or_checkpoint) {
  auto cfg = small_config();
  cfg.model_dir.clear();
  auto eng = reference_engine::make(cfg, nullptr);
  ASSERT_FALSE(eng);
  EXPECT_EQ(classify(eng.error()), errc::invalid_request);
  EXPECT_NE(client_message(eng.error()).find("model_dir"), std::string::npos);

  eng = reference_engine::make(small_config(tiny_model_environment::dir() / "missing"), nullptr);
  ASSERT_FALSE(eng);
  EXPECT_EQ(classify(eng.error()), errc::invalid_request);

  cfg = small_config();
  cfg.kv_cache_bytes = 100;
  eng = reference_engine::make(cfg, nullptr);
  ASSERT_FALSE(eng);
  EXPECT_EQ(classify(eng.error()), errc::invalid_request);
  EXPECT_NE(client_message(eng.error()).find("kv_cache_bytes"), std::string::npos);

  cfg = small_config();
  cfg.eos_token_id = 512;
  eng = reference_engine::make(cfg, nullptr);
  ASSERT_FALSE(eng);
  EXPECT_NE(client_message(eng.error()).find("eos_token_id"), std::string::npos);

  cfg = small_config();
  cfg.block_size = 0;
  eng = reference_engine::make(cfg, nullptr);
  ASSERT_FALSE(eng);
  EXPECT_NE(client_message(eng.error()).find("block_size"), std::string::npos);
}

TEST(reference_engine, capacity_follows_the_kv_budget_and_the_context_limit) {
  auto cfg = small_config();
  // One block: 2 layers * (keys + values) * 4 positions * 2 kv heads * 16 dims * 4 bytes.
  constexpr uint64_t block_bytes = 2 * 2 * 4 * 2 * 16 * 4;
  cfg.kv_cache_bytes = 10 * block_bytes + block_bytes / 2;
  cfg.max_model_len = 8192;
  cfg.max_num_batched_tokens = 8192;
  auto eng = make_engine(cfg);
  ASSERT_TRUE(eng);
  EXPECT_EQ(eng->name(), "reference");
  EXPECT_EQ(eng->config().total_kv_blocks, 10u);
  EXPECT_EQ(eng->stats().total_kv_blocks, 10u);
  EXPECT_EQ(eng->stats().kv_block_size, 4u);
  EXPECT_EQ(eng->config().max_model_len, 2048u) << "capped by max_position_embeddings";
  EXPECT_EQ(eng->kv().geometry().blocks, 10u);
  EXPECT_EQ(eng->kv().geometry().layers, 2u);
  EXPECT_EQ(eng->kv().geometry().region_bytes() * 2, block_bytes);
  EXPECT_EQ(eng->model().vocab_size, 512u);
  auto ckpt = model::open_checkpoint(tiny_dir());
  ASSERT_TRUE(ckpt) << describe(ckpt.error());
  ASSERT_FALSE(ckpt->generation.eos_token_ids.empty());
  auto declared = ckpt->generation.eos_token_ids;
  std::sort(declared.begin(), declared.end());
  EXPECT_EQ(eng->eos_token_ids(), declared);
  auto err = eng->admit(request(1, prompt_of(1, 2045), 10));
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_NE(client_message(err).find("2048"), std::string::npos) << client_message(err);
  err = eng->admit(request(2, prompt_of(1, 60), 10));
  ASSERT_TRUE(err) << "17 blocks do not fit in a pool of 10";
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_FALSE(eng->has_work());
}

TEST(reference_engine, admit_rejects_bad_requests) {
  auto eng = make_engine(small_config());
  ASSERT_TRUE(eng);
  auto err = eng->admit(request(1, {1, 70000, 3}));
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_EQ(client_message(err), "token id 70000 is out of range for a vocabulary of 512");
  EXPECT_TRUE(eng->admit(request(2, {1, 512})));
  auto nan_temperature = request(3, {1, 2});
  nan_temperature.sampling.temperature = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(classify(eng->admit(nan_temperature)), errc::invalid_request);
  auto zero_top_p = request(4, {1, 2});
  zero_top_p.sampling.top_p = 0.0f;
  EXPECT_EQ(classify(eng->admit(zero_top_p)), errc::invalid_request);
  EXPECT_EQ(classify(eng->admit(request(5, {}))), errc::invalid_request);
  EXPECT_FALSE(eng->has_work());
  EXPECT_FALSE(eng->admit(request(6, {1, 2})));
  EXPECT_EQ(classify(eng->admit(request(6, {3, 4}))), errc::invalid_request);
  EXPECT_TRUE(eng->has_work());
}

TEST(reference_engine, greedy_output_is_deterministic) {
  auto a = make_engine(small_config());
  auto b = make_engine(small_config());
  ASSERT_TRUE(a && b);
  const auto first = run_one(*a, request(1, prompt_of(3, 10), 12));
  const auto second = run_one(*b, request(9, prompt_of(3, 10), 12));
  EXPECT_EQ(first.finish, finish_reason::length);
  ASSERT_EQ(first.tokens.size(), 12u);
  EXPECT_EQ(first.tokens, second.tokens);
  EXPECT_EQ(first.prompt_tokens, 10u);
  for (auto t : first.tokens)
    EXPECT_LT(t, 512u);
  std::vector<token_id> distinct = first.tokens;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  EXPECT_GE(distinct.size(), 4u) << "the test model degenerated into repeating a token";
}

TEST(reference_engine, seeded_sampling_repeats_and_different_seeds_differ) {
  auto eng = make_engine(small_config());
  ASSERT_TRUE(eng);
  const auto prompt = prompt_of(4, 6);
  const auto first = run_one(*eng, request(1, prompt, 16, 0.8f, 42));
  const auto again = run_one(*eng, request(2, prompt, 16, 0.8f, 42));
  auto fresh = make_engine(small_config());
  ASSERT_TRUE(fresh);
  const auto elsewhere = run_one(*fresh, request(3, prompt, 16, 0.8f, 42));
  EXPECT_EQ(first.tokens.size(), 16u);
  EXPECT_EQ(first.tokens, again.tokens);
  EXPECT_EQ(first.tokens, elsewhere.tokens);
  for (uint64_t seed : {43u, 44u, 45u}) {
    const auto other = run_one(*eng, request(10 + seed, prompt, 16, 0.8f, seed));
    EXPECT_NE(first.tokens, other.tokens) << "seed " << seed;
  }
}

TEST(reference_engine, batched_decode_equals_sequential_decode) {
  const auto cfg = small_config();
  expect_same_tokens(run_together(cfg, six_requests(0.0f)), run_apart(cfg, six_requests(0.0f)));
  expect_same_tokens(run_together(cfg, six_requests(0.8f)), run_apart(cfg, six_requests(0.8f)));
}

TEST(reference_engine, prefix_cache_hit_gives_the_tokens_of_a_miss) {
  auto eng = make_engine(small_config());
  ASSERT_TRUE(eng);
  const auto prompt = prompt_of(5, 18);
  const auto miss = run_one(*eng, request(1, prompt, 8));
  const auto hit = run_one(*eng, request(2, prompt, 8));
  EXPECT_EQ(miss.cached_prompt_tokens, 0u);
  EXPECT_EQ(hit.cached_prompt_tokens, 16u);
  EXPECT_EQ(miss.tokens, hit.tokens);

  // Shared prefix, different suffix: the warm engine reuses 4 blocks, a cold one computes all.
  auto prefix = prompt_of(6, 16);
  auto a = prefix;
  a.insert(a.end(), {7, 8, 9});
  auto b = prefix;
  b.insert(b.end(), {10, 11});
  run_one(*eng, request(3, a, 4));
  const auto warm = run_one(*eng, request(4, b, 10, 0.8f, 5));
  auto cold_engine = make_engine(small_config());
  ASSERT_TRUE(cold_engine);
  const auto cold = run_one(*cold_engine, request(4, b, 10, 0.8f, 5));
  EXPECT_EQ(warm.cached_prompt_tokens, 16u);
  EXPECT_EQ(cold.cached_prompt_tokens, 0u);
  EXPECT_EQ(warm.tokens, cold.tokens);
}

TEST(reference_engine, chunked_prefill_equals_unchunked) {
  auto chunked = small_config();
  chunked.max_num_batched_tokens = 8;
  auto whole = small_config();
  whole.max_num_batched_tokens = 4096;
  expect_same_tokens(run_together(chunked, six_requests(0.0f)),
                     run_together(whole, six_requests(0.0f)));
  expect_same_tokens(run_together(chunked, six_requests(0.8f)),
                     run_together(whole, six_requests(0.8f)));
}

TEST(reference_engine, preemption_gives_the_same_tokens) {
  auto tight = small_config();
  tight.total_kv_blocks = 12;
  tight.admission_watermark = 0.0;
  for (const float temperature : {0.0f, 0.8f}) {
    auto eng = make_engine(tight);
    ASSERT_TRUE(eng);
    for (auto& r : six_requests(temperature))
      ASSERT_FALSE(eng->admit(std::move(r)));
    const auto squeezed = drain(*eng);
    EXPECT_GT(eng->counters().preemptions, 0u) << "the pool was expected to force preemption";
    expect_same_tokens(squeezed, run_apart(small_config(), six_requests(temperature)));
  }
}

TEST(reference_engine, stop_tokens_eos_and_max_tokens) {
  auto eng = make_engine(small_config());
  ASSERT_TRUE(eng);
  const auto prompt = prompt_of(8, 7);
  const auto full = run_one(*eng, request(1, prompt, 10)).tokens;
  ASSERT_EQ(full.size(), 10u);
  // The first position whose token did not occur before it: stopping there is unambiguous.
  size_t k = 1;
  while (k < full.size() && std::find(full.begin(), full.begin() + k, full[k]) != full.begin() + k)
    ++k;
  ASSERT_LT(k, full.size()) << "the tiny model repeats one token; pick another prompt";
  const std::vector<token_id> before_stop(full.begin(), full.begin() + k);
  const auto model_eos = eng->eos_token_ids();
  for (auto t : before_stop)
    ASSERT_EQ(std::count(model_eos.begin(), model_eos.end(), t), 0)
      << "the tiny model emits its EOS early; pick another prompt";

  auto with_stop = request(2, prompt, 10);
  with_stop.stop.stop_token_ids = {full[k]};
  const auto stopped = run_one(*eng, with_stop);
  EXPECT_EQ(stopped.finish, finish_reason::stop);
  EXPECT_EQ(stopped.tokens, before_stop);

  const auto short_run = run_one(*eng, request(3, prompt, 3));
  EXPECT_EQ(short_run.finish, finish_reason::length);
  EXPECT_EQ(short_run.tokens, std::vector<token_id>(full.begin(), full.begin() + 3));

  // A checkpoint whose generation_config.json lists two EOS ids: both stop unless ignore_eos.
  const auto eos_dir = tiny_model_environment::dir() / "tiny-eos";
  fs::create_directories(eos_dir);
  fs::copy_file(tiny_dir() / "config.json", eos_dir / "config.json",
                fs::copy_options::overwrite_existing);
  fs::copy_file(tiny_dir() / "model.safetensors", eos_dir / "model.safetensors",
                fs::copy_options::overwrite_existing);
  model::generation_config gen;
  gen.eos_token_ids = {model_eos.front(), full[k]};
  write_text(eos_dir / "generation_config.json", model::to_json(gen));
  auto eos_engine = make_engine(small_config(eos_dir));
  ASSERT_TRUE(eos_engine);
  auto expected_eos = std::vector<token_id>{model_eos.front(), full[k]};
  std::sort(expected_eos.begin(), expected_eos.end());
  expected_eos.erase(std::unique(expected_eos.begin(), expected_eos.end()), expected_eos.end());
  EXPECT_EQ(eos_engine->eos_token_ids(), expected_eos);
  auto honour_eos = request(4, prompt, 10);
  honour_eos.stop.ignore_eos = false;
  const auto at_eos = run_one(*eos_engine, honour_eos);
  EXPECT_EQ(at_eos.finish, finish_reason::stop);
  EXPECT_EQ(at_eos.tokens, before_stop);
  const auto past_eos = run_one(*eos_engine, request(5, prompt, 10));
  EXPECT_EQ(past_eos.finish, finish_reason::length);
  EXPECT_EQ(past_eos.tokens, full);

  // A configured eos_token_id joins the model's.
  auto configured = small_config();
  configured.eos_token_id = full[k];
  auto configured_engine = make_engine(configured);
  ASSERT_TRUE(configured_engine);
  honour_eos.id = 6;
  const auto at_configured = run_one(*configured_engine, honour_eos);
  EXPECT_EQ(at_configured.finish, finish_reason::stop);
  EXPECT_EQ(at_configured.tokens, before_stop);
}

TEST(reference_engine, cancel_frees_blocks) {
  auto eng = make_engine(small_config());
  ASSERT_TRUE(eng);
  ASSERT_FALSE(eng->admit(request(1, prompt_of(1, 10), 50)));
  ASSERT_FALSE(eng->admit(request(2, prompt_of(2, 6), 50)));
  eng->step();
  eng->step();
  EXPECT_FALSE(eng->block_table(1).empty());
  EXPECT_GT(eng->stats().active_kv_blocks, 0u);
  EXPECT_EQ(eng->stats().running_sequences, 2u);
  EXPECT_TRUE(eng->cancel(1));
  EXPECT_FALSE(eng->cancel(1));
  EXPECT_TRUE(eng->block_table(1).empty());
  ASSERT_FALSE(eng->admit(request(3, prompt_of(3, 5), 50)));
  EXPECT_TRUE(eng->cancel(3)) << "a waiting request can be cancelled";
  for (const auto& out : eng->step().outputs)
    EXPECT_EQ(out.id, 2u);
  EXPECT_TRUE(eng->cancel(2));
  const auto s = eng->stats();
  EXPECT_EQ(s.active_kv_blocks, 0u);
  EXPECT_EQ(s.running_sequences, 0u);
  EXPECT_EQ(s.waiting_sequences, 0u);
  EXPECT_EQ(s.prefill_tokens_pending, 0u);
  EXPECT_FALSE(eng->has_work());
  EXPECT_TRUE(eng->step().outputs.empty());
}

TEST(reference_engine, block_table_lists_the_blocks_of_a_running_sequence) {
  auto eng = make_engine(small_config());
  ASSERT_TRUE(eng);
  EXPECT_TRUE(eng->block_table(1).empty());
  ASSERT_FALSE(eng->admit(request(1, prompt_of(1, 10), 8)));
  ASSERT_FALSE(eng->admit(request(2, prompt_of(2, 9), 8)));
  EXPECT_TRUE(eng->block_table(1).empty()) << "a waiting sequence holds no blocks";
  eng->step();
  const auto one = eng->block_table(1);
  const auto two = eng->block_table(2);
  ASSERT_EQ(one.size(), 3u);
  ASSERT_EQ(two.size(), 3u);
  for (auto b : one) {
    EXPECT_LT(b, eng->kv().geometry().blocks);
    EXPECT_EQ(std::count(two.begin(), two.end(), b), 0) << "block " << b << " is shared";
  }
  drain(*eng);
  EXPECT_TRUE(eng->block_table(1).empty());
}

TEST(reference_engine, kv_snapshot_lists_what_its_events_stored) {
  auto cfg = small_config();
  cfg.total_kv_blocks = 16;
  auto eng = make_engine(cfg);
  ASSERT_TRUE(eng);
  std::vector<uint64_t> stored;
  eng->set_kv_event_sink([&stored](const dynamo::engine::kv_event& ev) {
    if (ev.type == dynamo::engine::kv_event::kind::stored)
      stored.insert(stored.end(), ev.block_hashes.begin(), ev.block_hashes.end());
  });
  EXPECT_TRUE(eng->kv_snapshot().empty());
  run_one(*eng, request(1, prompt_of(9, 14), 9));
  ASSERT_FALSE(stored.empty());
  std::vector<uint64_t> snapshot;
  for (const auto& ev : eng->kv_snapshot()) {
    EXPECT_EQ(ev.event_id, 0u);
    EXPECT_EQ(ev.block_hashes.size(), ev.token_hashes.size());
    snapshot.insert(snapshot.end(), ev.block_hashes.begin(), ev.block_hashes.end());
  }
  EXPECT_EQ(snapshot, stored) << "nothing was evicted: the snapshot holds every stored block";
}

TEST(reference_engine, kv_events_carry_the_block_hashes_of_the_tokens) {
  auto cfg = small_config();
  cfg.total_kv_blocks = 8;
  auto eng = make_engine(cfg);
  ASSERT_TRUE(eng);
  std::vector<dynamo::engine::kv_event> events;
  eng->set_kv_event_sink([&events](const dynamo::engine::kv_event& ev) { events.push_back(ev); });
  auto tokens = prompt_of(9, 14);
  const auto out = run_one(*eng, request(1, tokens, 9));
  tokens.insert(tokens.end(), out.tokens.begin(), out.tokens.end());
  // The last sampled token is never computed: 22 computed tokens fill 5 blocks of 4.
  const auto expected = dynamo::engine::hash_blocks(tokens, 4);
  std::vector<uint64_t> stored;
  std::vector<uint64_t> local;
  uint64_t last_id = 0;
  for (const auto& ev : events) {
    EXPECT_GT(ev.event_id, last_id);
    last_id = ev.event_id;
    ASSERT_EQ(ev.type, dynamo::engine::kv_event::kind::stored);
    if (stored.empty())
      EXPECT_FALSE(ev.parent_hash);
    else
      EXPECT_EQ(ev.parent_hash, stored.back());
    stored.insert(stored.end(), ev.block_hashes.begin(), ev.block_hashes.end());
    local.insert(local.end(), ev.token_hashes.begin(), ev.token_hashes.end());
  }
  ASSERT_EQ(stored.size(), 5u);
  EXPECT_EQ(stored,
            std::vector<uint64_t>(expected.sequence.begin(), expected.sequence.begin() + 5));
  EXPECT_EQ(local, std::vector<uint64_t>(expected.local.begin(), expected.local.begin() + 5));

  // A different prompt that needs the whole pool evicts the cached blocks.
  events.clear();
  run_one(*eng, request(2, prompt_of(10, 20), 12));
  std::vector<uint64_t> removed;
  for (const auto& ev : events) {
    if (ev.type == dynamo::engine::kv_event::kind::removed)
      removed.insert(removed.end(), ev.block_hashes.begin(), ev.block_hashes.end());
  }
  EXPECT_FALSE(removed.empty());
  for (auto h : removed)
    EXPECT_NE(std::find(stored.begin(), stored.end(), h), stored.end()) << h;
}

