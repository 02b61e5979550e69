// Split prefill/decode on the reference engine: one engine prefills and holds the KV, a second
// one receives it by an in-process copy of (layer, block) regions and decodes. The tokens must
// equal those of an aggregated run.
#include "dynamo/reference/reference_engine.hpp"

#include "dynamo/error.hpp"
#include "dynamo/model/synthesize.hpp"
#include "dynamo/testing/temp_dir.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <vector>

using namespace dynamo;
using namespace dynamo::reference;
namespace fs = std::filesystem;
using dynamo::engine::finish_reason;
using dynamo::engine::request_id;
using dynamo::engine::sequence_request;
using dynamo::engine::token_id;

namespace {

// The "tiny" synthesized checkpoint with untied embeddings (see reference_engine.test.cpp).
class split_model_environment : public ::testing::Environment {
public:
  void SetUp() override {
    dir_ = std::make_unique<dynamo::testing::temp_dir>("split-prefill");
    auto spec = model::synth_preset("tiny");
    ASSERT_TRUE(spec) << describe(spec.error());
    spec->tie_word_embeddings = false;
    auto err = model::synthesize(*spec, *dir_ / "tiny", nullptr);
    ASSERT_FALSE(err) << describe(err);
  }
  void TearDown() override { dir_.reset(); }
  static fs::path dir() { return dir_->path() / "tiny"; }

private:
  static inline std::unique_ptr<dynamo::testing::temp_dir> dir_;
};

[[maybe_unused]] auto* const split_env =
  ::testing::AddGlobalTestEnvironment(new split_model_environment);

constexpr uint32_t block_size = 4;

reference_config config() {
  reference_config cfg;
  cfg.model_dir = split_model_environment::dir();
  cfg.threads = 2;
  cfg.block_size = block_size;
  cfg.total_kv_blocks = 64;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 256;
  cfg.max_model_len = 512;
  cfg.seed = 7;
  return cfg;
}

std::unique_ptr<reference_engine> make_engine(dynamo::engine::kv_memory_provider provider = {}) {
  auto eng = reference_engine::make(config(), nullptr, std::move(provider));
  if (!eng) {
    ADD_FAILURE() << "make failed: " << describe(eng.error());
    return nullptr;
  }
  return std::move(*eng);
}

std::vector<token_id> prompt_of(uint32_t seed, size_t len) {
  std::vector<token_id> out(len);
  for (size_t i = 0; i < len; ++i)
    out[i] = static_cast<token_id>((seed * 31 + i * 17 + (i * i) % 7) % 94 + 1);
  return out;
}

struct sampling {
  float temperature = 0.0f;
  std::optional<uint64_t> seed;
};

sequence_request request(request_id id, std::vector<token_id> prompt, uint32_t max_tokens,
                         sampling how) {
  sequence_request r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.stop.max_tokens = max_tokens;
  r.stop.ignore_eos = true;
  r.sampling.temperature = how.temperature;
  r.sampling.top_p = how.temperature > 0.0f ? 0.9f : 1.0f;
  r.sampling.seed = how.seed;
  return r;
}

struct result {
  std::vector<token_id> tokens;
  finish_reason finish = finish_reason::none;
  uint32_t cached_prompt_tokens = 0;
};

std::map<request_id, result> drain(reference_engine& eng) {
  std::map<request_id, result> out;
  for (int steps = 0; eng.has_work(); ++steps) {
    if (steps > 2000) {
      ADD_FAILURE() << "expected the engine to finish its work within 2000 steps";
      break;
    }
    for (auto& o : eng.step().outputs) {
      auto& r = out[o.id];
      EXPECT_EQ(r.finish, finish_reason::none) << "output after the finish of " << o.id;
      r.tokens.insert(r.tokens.end(), o.tokens.begin(), o.tokens.end());
      r.finish = o.finish;
      r.cached_prompt_tokens = o.cached_prompt_tokens;
    }
  }
  return out;
}

// The data plane stand-in: copies every (layer, block) region of the blocks past the
// receiver's cached prefix, addressing both pools through kv_pool() as a data plane does.
void transfer(reference_engine& from, const std::vector<uint32_t>& from_blocks,
              reference_engine& to, const dynamo::engine::remote_kv& to_blocks) {
  ASSERT_EQ(from_blocks.size(), to_blocks.blocks.size());
  ASSERT_EQ(to_blocks.cached_tokens % block_size, 0u);
  const auto src = from.kv_pool();
  const auto dst = to.kv_pool();
  ASSERT_FALSE(src.empty());
  ASSERT_EQ(src.layers, dst.layers);
  ASSERT_EQ(src.region_bytes, dst.region_bytes);
  for (uint32_t layer = 0; layer < src.layers; ++layer) {
    for (size_t i = to_blocks.cached_tokens / block_size; i < from_blocks.size(); ++i) {
      ASSERT_LT(from_blocks[i], src.blocks);
      ASSERT_LT(to_blocks.blocks[i], dst.blocks);
      std::memcpy(dst.base + dst.offset(layer, to_blocks.blocks[i]),
                  src.base + src.offset(layer, from_blocks[i]), src.region_bytes);
    }
  }
}

// Hands out 64-byte aligned pools, as a data plane that registered them would; they stay
// valid as long as this object (declare it before the engines that use them).
class pool_provider {
public:
  pool_provider() = default;
  pool_provider(const pool_provider&) = delete;
  pool_provider& operator=(const pool_provider&) = delete;

  // The provider; `offset` shifts the returned pointer (to test misalignment).
  dynamo::engine::kv_memory_provider provider(size_t offset = 0) {
    return [this, offset](uint64_t bytes) -> caf::expected<std::byte*> {
      auto& pool = pools_.emplace_back(new (std::align_val_t{64}) std::byte[bytes + offset]);
      std::memset(pool.get(), 0xa5, bytes + offset);  // the engine must not rely on zeroes
      requested_.push_back(bytes);
      return pool.get() + offset;
    };
  }
  // Bytes asked for, one entry per call.
  const std::vector<uint64_t>& requested() const noexcept { return requested_; }
  // Start of the i-th pool handed out (before any offset).
  std::byte* pool(size_t i) const { return pools_.at(i).get(); }

private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::vector<std::unique_ptr<std::byte[], aligned_delete>> pools_;
  std::vector<uint64_t> requested_;
};

// Prefills `req` on `prefill` (hold_kv), moves its KV to `decode` (unless `copy` is false) and
// decodes there.
result run_split(reference_engine& prefill, reference_engine& decode, sequence_request req,
                 uint32_t expected_cached = 0, bool copy = true) {
  result failed;
  const auto id = req.id;
  auto first_req = req;
  first_req.stop.max_tokens = 1;
  first_req.hold_kv = true;
  if (auto err = prefill.admit(std::move(first_req))) {
    ADD_FAILURE() << "prefill admit: " << describe(err);
    return failed;
  }
  const auto first = drain(prefill)[id];
  EXPECT_EQ(first.finish, finish_reason::length);
  if (first.tokens.size() != 1) {
    ADD_FAILURE() << "expected exactly one token from the prefill engine";
    return failed;
  }
  auto held = prefill.held_blocks(id);
  if (!held) {
    ADD_FAILURE() << "held_blocks: " << describe(held.error());
    return failed;
  }
  EXPECT_EQ(held->tokens, req.prompt.size());
  EXPECT_EQ(prefill.stats().held_kv_blocks, held->blocks.size());
  auto remote = decode.admit_remote(std::move(req));
  if (!remote) {
    ADD_FAILURE() << "admit_remote: " << describe(remote.error());
    return failed;
  }
  EXPECT_EQ(remote->cached_tokens, expected_cached);
  EXPECT_EQ(decode.stats().awaiting_kv_sequences, 1u);
  if (copy)
    transfer(prefill, held->blocks, decode, *remote);
  EXPECT_TRUE(prefill.release_held(id));
  EXPECT_EQ(prefill.stats().active_kv_blocks, 0u) << "release_held frees the prefill blocks";
  EXPECT_EQ(prefill.stats().held_kv_blocks, 0u);
  if (auto err = decode.complete_remote(id, first.tokens.front())) {
    ADD_FAILURE() << "complete_remote: " << describe(err);
    return failed;
  }
  auto out = drain(decode)[id];
  EXPECT_EQ(decode.stats().active_kv_blocks, 0u) << "no leaked blocks on the decode engine";
  EXPECT_EQ(out.cached_prompt_tokens, expected_cached);
  return out;
}

result run_aggregated(sequence_request req) {
  auto eng = make_engine();
  if (!eng)
    return {};
  const auto id = req.id;
  EXPECT_FALSE(eng->admit(std::move(req)));
  return drain(*eng)[id];
}

} // namespace

TEST(split_prefill, split_equals_aggregated_for_greedy_and_seeded_sampling) {
  auto prefill = make_engine();
  auto decode = make_engine();
  ASSERT_TRUE(prefill && decode);
  request_id id = 1;
  for (const auto how : {sampling{0.0f, std::nullopt}, sampling{0.8f, 1234}}) {
    for (const size_t len : {1u, 3u, 8u, 13u, 21u}) {
      SCOPED_TRACE(fmt::format("prompt {} tokens, temperature {}", len, how.temperature));
      ++id;
      const auto prompt = prompt_of(static_cast<uint32_t>(id), len);
      const auto want = run_aggregated(request(id, prompt, 7, how));
      ASSERT_EQ(want.tokens.size(), 7u);
      const auto got = run_split(*prefill, *decode, request(id, prompt, 7, how));
      EXPECT_EQ(got.tokens, want.tokens);
      EXPECT_EQ(got.finish, finish_reason::length);
    }
  }
}

TEST(split_prefill, without_the_transfer_the_decoder_diverges) {
  auto prefill = make_engine();
  auto decode = make_engine();
  ASSERT_TRUE(prefill && decode);
  const auto prompt = prompt_of(5, 13);
  const auto want = run_aggregated(request(1, prompt, 7, {}));
  const auto got = run_split(*prefill, *decode, request(1, prompt, 7, {}), 0, false);
  ASSERT_EQ(got.tokens.size(), want.tokens.size());
  EXPECT_EQ(got.tokens.front(), want.tokens.front()) << "the first token comes from the prefill";
  EXPECT_NE(got.tokens, want.tokens) << "decoding over an empty KV must not match: the "
                                        "equality of the other tests proves the transfer";
}

TEST(split_prefill, the_decoder_reuses_its_cached_prefix_and_skips_those_blocks) {
  auto prefill = make_engine();
  auto decode = make_engine();
  ASSERT_TRUE(prefill && decode);
  const auto shared = prompt_of(3, 8);
  auto warm = request(1, shared, 2, {});
  warm.prompt.push_back(50);
  ASSERT_FALSE(decode->admit(std::move(warm)));
  drain(*decode);  // the decoder caches the two blocks of `shared`
  for (const auto how : {sampling{0.0f, std::nullopt}, sampling{0.8f, 99}}) {
    const request_id id = how.seed ? 3 : 2;
    // A suffix of its own, so that only the shared two blocks are cached on the decoder.
    auto prompt = shared;
    for (token_id t = 0; t < 5; ++t)
      prompt.push_back(static_cast<token_id>(10 * id + t));
    const auto want = run_aggregated(request(id, prompt, 6, how));
    const auto got = run_split(*prefill, *decode, request(id, prompt, 6, how), 8);
    EXPECT_EQ(got.tokens, want.tokens);
  }
  // A fully cached block-aligned prompt: nothing to copy at all.
  const auto want = run_aggregated(request(4, shared, 5, {}));
  const auto got = run_split(*prefill, *decode, request(4, shared, 5, {}), 8);
  EXPECT_EQ(got.tokens, want.tokens);
}

TEST(split_prefill, cancel_while_awaiting_kv_frees_the_blocks) {
  auto eng = make_engine();
  ASSERT_TRUE(eng);
  auto remote = eng->admit_remote(request(1, prompt_of(1, 10), 4, {}));
  ASSERT_TRUE(remote) << describe(remote.error());
  EXPECT_EQ(remote->blocks.size(), 3u);
  EXPECT_EQ(eng->block_table(1).size(), 3u);
  EXPECT_EQ(eng->stats().active_kv_blocks, 3u);
  EXPECT_FALSE(eng->has_work()) << "awaiting its KV is no work";
  EXPECT_TRUE(eng->cancel(1));
  EXPECT_EQ(eng->stats().active_kv_blocks, 0u);
  EXPECT_EQ(eng->stats().awaiting_kv_sequences, 0u);
  EXPECT_EQ(classify(eng->complete_remote(1, 5)), errc::not_found);
}

TEST(split_prefill, errors_are_typed) {
  auto eng = make_engine();
  ASSERT_TRUE(eng);
  EXPECT_EQ(classify(eng->complete_remote(42, 5)), errc::not_found) << "unknown id";
  EXPECT_EQ(classify(eng->held_blocks(42).error()), errc::not_found);
  EXPECT_FALSE(eng->release_held(42));
  auto held_two = request(1, prompt_of(1, 5), 2, {});
  held_two.hold_kv = true;
  EXPECT_EQ(classify(eng->admit(std::move(held_two))), errc::invalid_request)
    << "hold_kv needs max_tokens 1";
  EXPECT_EQ(classify(eng->admit_remote(request(1, {600}, 4, {})).error()),
            errc::invalid_request)
    << "token outside the vocabulary";
  ASSERT_TRUE(eng->admit_remote(request(1, prompt_of(1, 5), 4, {})));
  EXPECT_EQ(classify(eng->complete_remote(1, 100000)), errc::invalid_request)
    << "first token outside the vocabulary";
  ASSERT_FALSE(eng->complete_remote(1, 5));
  EXPECT_EQ(classify(eng->complete_remote(1, 5)), errc::invalid_request) << "completed twice";
  drain(*eng);
  // 64 blocks of 4 tokens: three 80-token prompts take 60 blocks, a fourth cannot fit now.
  for (request_id id = 10; id < 13; ++id)
    ASSERT_TRUE(eng->admit_remote(request(id, prompt_of(static_cast<uint32_t>(id), 80), 1, {})));
  auto more = eng->admit_remote(request(13, prompt_of(13, 80), 1, {}));
  ASSERT_FALSE(more);
  EXPECT_EQ(classify(more.error()), errc::overloaded);
  EXPECT_EQ(classify(eng->admit_remote(request(14, prompt_of(14, 300), 1, {})).error()),
            errc::invalid_request)
    << "a prompt larger than the pool can never fit";
  for (request_id id = 10; id < 13; ++id)
    EXPECT_TRUE(eng->cancel(id));
  EXPECT_EQ(eng->stats().active_kv_blocks, 0u);
}

TEST(split_prefill, kv_pool_regions_are_the_kv_cache_regions) {
  pool_provider pools;
  auto own = make_engine();
  auto provided = make_engine(pools.provider());
  ASSERT_TRUE(own && provided);
  for (auto* eng : {own.get(), provided.get()}) {
    const auto view = eng->kv_pool();
    const auto& g = eng->kv().geometry();
    ASSERT_FALSE(view.empty());
    EXPECT_EQ(view.layers, g.layers);
    EXPECT_EQ(view.blocks, g.blocks);
    EXPECT_EQ(view.blocks, eng->config().total_kv_blocks);
    EXPECT_EQ(view.region_bytes, g.region_bytes());
    EXPECT_EQ(view.bytes(), eng->kv().bytes().size());
    EXPECT_EQ(view.base, eng->kv().bytes().data());
    for (uint32_t layer = 0; layer < view.layers; ++layer) {
      for (const uint32_t block : {0u, 1u, 17u, view.blocks - 1}) {
        const auto region = eng->kv().region(layer, block);
        EXPECT_EQ(view.base + view.offset(layer, block), region.data())
          << "layer " << layer << " block " << block;
        EXPECT_EQ(view.region_bytes, region.size());
      }
    }
  }
  ASSERT_EQ(pools.requested().size(), 1u) << "the provider is called exactly once";
  EXPECT_EQ(pools.requested().front(), provided->kv_pool().bytes());
  EXPECT_EQ(provided->kv_pool().base, pools.pool(0)) << "the pool lives in the provided memory";
  EXPECT_NE(own->kv_pool().base, pools.pool(0));
}

TEST(split_prefill, an_engine_on_provided_memory_computes_what_one_with_its_own_does) {
  pool_provider pools;
  auto provided = make_engine(pools.provider());
  auto own = make_engine();
  ASSERT_TRUE(provided && own);
  request_id id = 100;
  for (const auto how : {sampling{0.0f, std::nullopt}, sampling{0.8f, 77}}) {
    for (const size_t len : {3u, 13u, 30u}) {
      SCOPED_TRACE(fmt::format("prompt {} tokens, temperature {}", len, how.temperature));
      ++id;
      const auto prompt = prompt_of(static_cast<uint32_t>(id), len);
      const auto want = run_aggregated(request(id, prompt, 9, how));
      ASSERT_EQ(want.tokens.size(), 9u);
      ASSERT_FALSE(provided->admit(request(id, prompt, 9, how)));
      EXPECT_EQ(drain(*provided)[id].tokens, want.tokens);
      // Split both ways between a provided pool and an own one (prompts of their own, so that
      // nothing is cached on the receiver).
      for (const request_id split_id : {id + 1000, id + 2000}) {
        const auto split_prompt = prompt_of(static_cast<uint32_t>(split_id), len);
        auto& from = split_id == id + 1000 ? *provided : *own;
        auto& to = split_id == id + 1000 ? *own : *provided;
        EXPECT_EQ(run_split(from, to, request(split_id, split_prompt, 9, how)).tokens,
                  run_aggregated(request(split_id, split_prompt, 9, how)).tokens);
      }
    }
  }
  EXPECT_EQ(provided->stats().active_kv_blocks, 0u);
}

TEST(split_prefill, kv_memory_provider_failures_are_typed_errors) {
  pool_provider pools;
  auto failing = reference_engine::make(
    config(), nullptr, [](uint64_t bytes) -> caf::expected<std::byte*> {
      return make_error(errc::overloaded, "no registered memory left",
                        fmt::format("test provider refused {} bytes", bytes));
    });
  ASSERT_FALSE(failing);
  EXPECT_EQ(classify(failing.error()), errc::overloaded) << "the provider's error as is";
  EXPECT_EQ(client_message(failing.error()), "no registered memory left");
  auto misaligned = reference_engine::make(config(), nullptr, pools.provider(8));
  ASSERT_FALSE(misaligned);
  EXPECT_EQ(classify(misaligned.error()), errc::internal);
  auto null = reference_engine::make(config(), nullptr,
                                     [](uint64_t) -> caf::expected<std::byte*> {
                                       return static_cast<std::byte*>(nullptr);
                                     });
  ASSERT_FALSE(null);
  EXPECT_EQ(classify(null.error()), errc::internal);
}
