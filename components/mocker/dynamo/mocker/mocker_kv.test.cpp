// The mocker's simulated KV pool: deterministic content written by prefill, moved between two
// mockers as a data plane would, and verified by complete_remote.
#include "dynamo/mocker/mocker_engine.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <vector>

namespace dynamo::mocker {
namespace {

using engine::finish_reason;
using engine::kv_pool_view;
using engine::request_id;
using engine::sequence_request;
using engine::token_id;
using ::testing::HasSubstr;

constexpr uint32_t block_size = 16;

mocker_config pool_config(uint32_t kv_bytes_per_token = 256) {
  mocker_config cfg;
  cfg.block_size = block_size;
  cfg.total_kv_blocks = 64;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 24;  // prompts prefill in several chunks
  cfg.max_model_len = 512;
  cfg.seed = 3;
  cfg.kv_bytes_per_token = kv_bytes_per_token;
  cfg.kv_layers = 4;
  return cfg;
}

std::vector<token_id> prompt_of(token_id first, uint32_t len) {
  std::vector<token_id> out(len);
  std::iota(out.begin(), out.end(), first);
  return out;
}

sequence_request request(request_id id, std::vector<token_id> prompt, uint32_t max_tokens) {
  sequence_request req;
  req.id = id;
  req.prompt = std::move(prompt);
  req.stop.max_tokens = max_tokens;
  return req;
}

std::vector<token_id> drain(mocker_engine& eng, request_id id) {
  std::vector<token_id> out;
  for (int steps = 0; eng.has_work(); ++steps) {
    if (steps > 10000) {
      ADD_FAILURE() << "expected the mocker to drain within 10000 steps";
      break;
    }
    for (const auto& o : eng.step().outputs) {
      if (o.id == id)
        out.insert(out.end(), o.tokens.begin(), o.tokens.end());
    }
  }
  return out;
}

// Prefills `prompt` on `eng` as a hold_kv request; returns its held blocks and first token.
struct prefilled {
  std::vector<uint32_t> blocks;
  token_id first = 0;
};

prefilled prefill(mocker_engine& eng, request_id id, std::vector<token_id> prompt) {
  auto req = request(id, std::move(prompt), 1);
  req.hold_kv = true;
  if (auto err = eng.admit(std::move(req))) {
    ADD_FAILURE() << "prefill admit: " << describe(err);
    return {};
  }
  const auto first = drain(eng, id);
  auto held = eng.held_blocks(id);
  if (first.size() != 1 || !held) {
    ADD_FAILURE() << "expected one token and held blocks from the prefill of " << id;
    return {};
  }
  return {held->blocks, first.front()};
}

// The data plane stand-in: copies every (layer, block) region past the receiver's cached
// prefix from one pool into the other.
void copy_kv(mocker_engine& from, const std::vector<uint32_t>& from_blocks, mocker_engine& to,
             const engine::remote_kv& to_blocks) {
  const auto src = from.kv_pool();
  const auto dst = to.kv_pool();
  ASSERT_FALSE(src.empty());
  ASSERT_EQ(src.layers, dst.layers);
  ASSERT_EQ(src.region_bytes, dst.region_bytes);
  ASSERT_EQ(from_blocks.size(), to_blocks.blocks.size());
  for (uint32_t layer = 0; layer < src.layers; ++layer) {
    for (size_t i = to_blocks.cached_tokens / block_size; i < from_blocks.size(); ++i)
      std::memcpy(dst.base + dst.offset(layer, to_blocks.blocks[i]),
                  src.base + src.offset(layer, from_blocks[i]), src.region_bytes);
  }
}

// The bytes of region (layer, block).
std::vector<std::byte> region(mocker_engine& eng, uint32_t layer, uint32_t block) {
  const auto view = eng.kv_pool();
  const auto* at = view.base + view.offset(layer, block);
  return {at, at + view.region_bytes};
}

// Hands out 64-byte aligned memory that outlives the engines built on it.
class pool_provider {
public:
  engine::kv_memory_provider provider(size_t offset = 0) {
    return [this, offset](uint64_t bytes) -> caf::expected<std::byte*> {
      auto& pool = pools_.emplace_back(new (std::align_val_t{64}) std::byte[bytes + offset]);
      std::memset(pool.get(), 0x5a, bytes + offset);
      requested_.push_back(bytes);
      return pool.get() + offset;
    };
  }
  const std::vector<uint64_t>& requested() const noexcept { return requested_; }
  std::byte* pool(size_t i) const { return pools_.at(i).get(); }

private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::vector<std::unique_ptr<std::byte[], aligned_delete>> pools_;
  std::vector<uint64_t> requested_;
};

TEST(mocker_kv, pool_geometry_follows_the_config) {
  mocker_engine eng{pool_config(256), nullptr};
  const auto view = eng.kv_pool();
  ASSERT_FALSE(view.empty());
  EXPECT_EQ(view.layers, 4u);
  EXPECT_EQ(view.blocks, 64u);
  EXPECT_EQ(view.region_bytes, block_size * 256u / 4u);
  EXPECT_EQ(view.bytes(), 64u * block_size * 256u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(view.base) % 64, 0u);
  EXPECT_EQ(region(eng, 3, 63), std::vector<std::byte>(view.region_bytes))
    << "an own pool starts zeroed";
}

TEST(mocker_kv, without_kv_bytes_the_pool_is_empty_and_nothing_changes) {
  mocker_engine plain{pool_config(0), nullptr};
  mocker_engine pooled{pool_config(256), nullptr};
  EXPECT_TRUE(plain.kv_pool().empty());
  EXPECT_EQ(plain.kv_pool().bytes(), 0u);
  ASSERT_FALSE(plain.admit(request(1, prompt_of(1, 40), 9)));
  ASSERT_FALSE(pooled.admit(request(1, prompt_of(1, 40), 9)));
  const auto want = drain(pooled, 1);
  EXPECT_EQ(drain(plain, 1), want) << "the pool never changes the tokens";
  // Without a pool there is nothing to verify: completing without any transfer succeeds.
  mocker_engine decode{pool_config(0), nullptr};
  ASSERT_TRUE(decode.admit_remote(request(2, prompt_of(1, 40), 9)));
  EXPECT_FALSE(decode.complete_remote(2, want.front()));
  EXPECT_EQ(drain(decode, 2), want);
}

TEST(mocker_kv, split_with_transferred_kv_equals_aggregated) {
  mocker_engine prefill_eng{pool_config(), nullptr};
  mocker_engine decode_eng{pool_config(), nullptr};
  request_id id = 0;
  for (const uint32_t len : {1u, 15u, 16u, 17u, 40u, 64u, 100u}) {
    SCOPED_TRACE(fmt::format("prompt of {} tokens", len));
    ++id;
    const auto prompt = prompt_of(static_cast<token_id>(7 * id), len);
    mocker_engine aggregated{pool_config(), nullptr};
    ASSERT_FALSE(aggregated.admit(request(id, prompt, 9)));
    const auto want = drain(aggregated, id);
    ASSERT_EQ(want.size(), 9u);

    const auto held = prefill(prefill_eng, id, prompt);
    ASSERT_EQ(held.blocks.size(), (len + block_size - 1) / block_size);
    auto remote = decode_eng.admit_remote(request(id, prompt, 9));
    ASSERT_TRUE(remote) << describe(remote.error());
    copy_kv(prefill_eng, held.blocks, decode_eng, *remote);
    EXPECT_TRUE(prefill_eng.release_held(id));
    ASSERT_FALSE(decode_eng.complete_remote(id, held.first));
    EXPECT_EQ(drain(decode_eng, id), want);
  }
  EXPECT_EQ(prefill_eng.stats().active_kv_blocks, 0u);
  EXPECT_EQ(decode_eng.stats().active_kv_blocks, 0u);
}

TEST(mocker_kv, a_corrupted_byte_fails_complete_remote_naming_the_block) {
  mocker_engine prefill_eng{pool_config(), nullptr};
  mocker_engine decode_eng{pool_config(), nullptr};
  const auto prompt = prompt_of(5, 40);
  const auto held = prefill(prefill_eng, 1, prompt);
  auto remote = decode_eng.admit_remote(request(1, prompt, 4));
  ASSERT_TRUE(remote) << describe(remote.error());
  copy_kv(prefill_eng, held.blocks, decode_eng, *remote);
  const auto view = decode_eng.kv_pool();
  auto* byte = view.base + view.offset(2, remote->blocks[1]) + 77;
  *byte ^= std::byte{0x10};
  auto err = decode_eng.complete_remote(1, held.first);
  ASSERT_TRUE(err) << "a corrupted byte must be detected";
  EXPECT_EQ(classify(err), errc::internal);
  EXPECT_THAT(client_message(err), HasSubstr("KV content mismatch"));
  EXPECT_THAT(client_message(err), HasSubstr("prompt block 1"));
  EXPECT_THAT(client_message(err), HasSubstr("layer 2"));
  EXPECT_THAT(operator_detail(err), HasSubstr("at byte 77"));
  EXPECT_EQ(decode_eng.stats().awaiting_kv_sequences, 1u) << "the sequence keeps awaiting";
  // Repaired, it completes.
  *byte ^= std::byte{0x10};
  ASSERT_FALSE(decode_eng.complete_remote(1, held.first));
  EXPECT_EQ(drain(decode_eng, 1).size(), 4u);

  // Nothing transferred at all: the first uncached block is reported, and cancel frees it.
  auto empty = decode_eng.admit_remote(request(2, prompt_of(900, 40), 4));
  ASSERT_TRUE(empty) << describe(empty.error());
  err = decode_eng.complete_remote(2, 33);
  EXPECT_EQ(classify(err), errc::internal);
  EXPECT_THAT(client_message(err), HasSubstr("prompt block 0"));
  EXPECT_THAT(client_message(err), HasSubstr("layer 0"));
  EXPECT_TRUE(decode_eng.cancel(2));
  EXPECT_EQ(decode_eng.stats().awaiting_kv_sequences, 0u);
  EXPECT_EQ(decode_eng.stats().active_kv_blocks, 0u);
}

TEST(mocker_kv, content_is_a_function_of_the_tokens_their_position_and_the_layer) {
  mocker_engine a{pool_config(), nullptr};
  mocker_engine b{pool_config(), nullptr};
  // Occupy some blocks of b first, so the same prompt lands on other block indices there.
  ASSERT_FALSE(b.admit(request(99, prompt_of(500, 33), 1)));
  drain(b, 99);
  const auto prompt = prompt_of(3, 45);
  const auto on_a = prefill(a, 1, prompt);
  const auto on_b = prefill(b, 1, prompt);
  ASSERT_EQ(on_a.blocks.size(), 3u);
  ASSERT_EQ(on_b.blocks.size(), 3u);
  EXPECT_NE(on_a.blocks, on_b.blocks);
  for (uint32_t layer = 0; layer < 4; ++layer) {
    for (size_t i = 0; i < on_a.blocks.size(); ++i)
      EXPECT_EQ(region(a, layer, on_a.blocks[i]), region(b, layer, on_b.blocks[i]))
        << "identical prompts give identical content (layer " << layer << ", block " << i << ")";
  }
  EXPECT_NE(region(a, 0, on_a.blocks[0]), region(a, 1, on_a.blocks[0])) << "layers differ";
  EXPECT_NE(region(a, 0, on_a.blocks[0]), region(a, 0, on_a.blocks[1])) << "blocks differ";

  // One token changed in block 1: block 0 is the same, blocks 1 and 2 (chained) differ.
  auto other = prompt;
  other[20] += 1000;
  const auto changed = prefill(b, 2, other);
  for (uint32_t layer = 0; layer < 4; ++layer) {
    EXPECT_EQ(region(a, layer, on_a.blocks[0]), region(b, layer, changed.blocks[0]));
    EXPECT_NE(region(a, layer, on_a.blocks[1]), region(b, layer, changed.blocks[1]));
    EXPECT_NE(region(a, layer, on_a.blocks[2]), region(b, layer, changed.blocks[2]));
  }
  // A shorter prompt: its partial last block differs from the longer prompt's full block.
  const auto shorter = prefill(b, 3, prompt_of(3, 20));
  EXPECT_EQ(region(a, 0, on_a.blocks[0]), region(b, 0, shorter.blocks[0]));
  EXPECT_NE(region(a, 0, on_a.blocks[1]), region(b, 0, shorter.blocks[1]));
}

TEST(mocker_kv, the_decoder_skips_its_cached_prefix) {
  mocker_engine prefill_eng{pool_config(), nullptr};
  mocker_engine decode_eng{pool_config(), nullptr};
  const auto shared = prompt_of(11, 32);
  auto warm = shared;
  warm.push_back(1);
  ASSERT_FALSE(decode_eng.admit(request(1, warm, 2)));
  drain(decode_eng, 1);
  auto prompt = shared;
  for (token_id t = 0; t < 20; ++t)
    prompt.push_back(700 + t);
  mocker_engine aggregated{pool_config(), nullptr};
  ASSERT_FALSE(aggregated.admit(request(2, prompt, 6)));
  const auto want = drain(aggregated, 2);
  const auto held = prefill(prefill_eng, 2, prompt);
  auto remote = decode_eng.admit_remote(request(2, prompt, 6));
  ASSERT_TRUE(remote) << describe(remote.error());
  EXPECT_EQ(remote->cached_tokens, 32u);
  copy_kv(prefill_eng, held.blocks, decode_eng, *remote);
  ASSERT_FALSE(decode_eng.complete_remote(2, held.first));
  EXPECT_EQ(drain(decode_eng, 2), want);
}

TEST(mocker_kv, blocks_filled_by_decode_carry_the_content_of_their_tokens) {
  // The prefill engine caches a block that decode completed; a later prompt that contains
  // the generated tokens reuses it, and the receiver must still find the right content.
  mocker_engine prefill_eng{pool_config(), nullptr};
  mocker_engine decode_eng{pool_config(), nullptr};
  const auto first_turn = prompt_of(40, 20);
  ASSERT_FALSE(prefill_eng.admit(request(1, first_turn, 14)));
  const auto generated = drain(prefill_eng, 1);
  ASSERT_EQ(generated.size(), 14u);
  auto prompt = first_turn;
  prompt.insert(prompt.end(), generated.begin(), generated.begin() + 12);  // 32 tokens
  for (token_id t = 0; t < 5; ++t)
    prompt.push_back(300 + t);
  const auto held = prefill(prefill_eng, 2, prompt);
  EXPECT_EQ(prefill_eng.stats().held_kv_blocks, 3u);
  auto remote = decode_eng.admit_remote(request(2, prompt, 3));
  ASSERT_TRUE(remote) << describe(remote.error());
  EXPECT_EQ(remote->cached_tokens, 0u);
  copy_kv(prefill_eng, held.blocks, decode_eng, *remote);
  EXPECT_FALSE(decode_eng.complete_remote(2, held.first));
}

TEST(mocker_kv, provided_memory_holds_the_pool) {
  pool_provider pools;
  auto made = mocker_engine::make(pool_config(), nullptr, pools.provider());
  ASSERT_TRUE(made) << describe(made.error());
  mocker_engine constructed{pool_config(), nullptr, pools.provider()};
  ASSERT_EQ(pools.requested().size(), 2u) << "one call per engine";
  EXPECT_EQ(pools.requested()[0], (*made)->kv_pool().bytes());
  EXPECT_EQ((*made)->kv_pool().base, pools.pool(0));
  EXPECT_EQ(constructed.kv_pool().base, pools.pool(1));
  EXPECT_EQ(region(constructed, 1, 5), std::vector<std::byte>(constructed.kv_pool().region_bytes))
    << "provided memory is zeroed";
  // A split run between two engines on provided memory.
  const auto prompt = prompt_of(9, 50);
  mocker_engine aggregated{pool_config(), nullptr};
  ASSERT_FALSE(aggregated.admit(request(1, prompt, 5)));
  const auto want = drain(aggregated, 1);
  const auto held = prefill(**made, 1, prompt);
  auto remote = constructed.admit_remote(request(1, prompt, 5));
  ASSERT_TRUE(remote) << describe(remote.error());
  copy_kv(**made, held.blocks, constructed, *remote);
  ASSERT_FALSE(constructed.complete_remote(1, held.first));
  EXPECT_EQ(drain(constructed, 1), want);
  // Without kv_bytes_per_token the provider is never called.
  auto plain = mocker_engine::make(pool_config(0), nullptr, pools.provider());
  ASSERT_TRUE(plain);
  EXPECT_EQ(pools.requested().size(), 2u);
}

TEST(mocker_kv, make_reports_pool_failures) {
  pool_provider pools;
  auto refused = mocker_engine::make(pool_config(), nullptr,
                                     [](uint64_t) -> caf::expected<std::byte*> {
                                       return make_error(errc::overloaded, "no memory left");
                                     });
  ASSERT_FALSE(refused);
  EXPECT_EQ(classify(refused.error()), errc::overloaded);
  EXPECT_EQ(client_message(refused.error()), "no memory left");
  auto misaligned = mocker_engine::make(pool_config(), nullptr, pools.provider(8));
  ASSERT_FALSE(misaligned);
  EXPECT_EQ(classify(misaligned.error()), errc::internal);
  auto bad = pool_config();
  bad.kv_bytes_per_token = 100;
  auto invalid = mocker_engine::make(bad, nullptr);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(classify(invalid.error()), errc::invalid_request);
  EXPECT_THAT(client_message(invalid.error()), HasSubstr("kv_bytes_per_token"));
}

} // namespace
} // namespace dynamo::mocker
