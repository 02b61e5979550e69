#include "dynamo/mocker/mocker_config.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>

namespace dynamo::mocker {
namespace {

using ::testing::HasSubstr;

TEST(mocker_config, defaults_are_valid) {
  mocker_config cfg;
  EXPECT_FALSE(validate(cfg));
  EXPECT_EQ(cfg.block_size, 16u);
  EXPECT_EQ(cfg.total_kv_blocks, 16384u);
  EXPECT_EQ(cfg.max_num_seqs, 256u);
  EXPECT_EQ(cfg.max_num_batched_tokens, 8192u);
  EXPECT_TRUE(cfg.enable_prefix_caching);
  EXPECT_TRUE(cfg.enable_chunked_prefill);
  EXPECT_EQ(cfg.speedup_ratio, 1.0);
  EXPECT_EQ(cfg.max_model_len, 8192u);
  EXPECT_EQ(cfg.token_min, 32u);
  EXPECT_EQ(cfg.token_max, 126u);
  EXPECT_FALSE(cfg.eos_token_id.has_value());
  EXPECT_EQ(cfg.kv_bytes_per_token, 0u) << "no simulated KV pool by default";
  EXPECT_EQ(cfg.kv_layers, 4u);
}

struct bad_case {
  const char* name;
  std::function<void(mocker_config&)> mutate;
  const char* message_part;
};

TEST(mocker_config, rejects_each_bad_field_with_invalid_request) {
  const bad_case cases[] = {
    {"block_size", [](mocker_config& c) { c.block_size = 0; }, "block_size"},
    {"total_kv_blocks", [](mocker_config& c) { c.total_kv_blocks = 0; }, "total_kv_blocks"},
    {"total_kv_blocks_huge",
     [](mocker_config& c) { c.total_kv_blocks = std::numeric_limits<uint32_t>::max(); },
     "total_kv_blocks"},
    {"max_num_seqs", [](mocker_config& c) { c.max_num_seqs = 0; }, "max_num_seqs"},
    {"max_num_batched_tokens", [](mocker_config& c) { c.max_num_batched_tokens = 0; },
     "max_num_batched_tokens"},
    {"speedup_zero", [](mocker_config& c) { c.speedup_ratio = 0.0; }, "speedup_ratio"},
    {"speedup_negative", [](mocker_config& c) { c.speedup_ratio = -2.0; }, "speedup_ratio"},
    {"speedup_nan",
     [](mocker_config& c) { c.speedup_ratio = std::numeric_limits<double>::quiet_NaN(); },
     "speedup_ratio"},
    {"speedup_inf",
     [](mocker_config& c) { c.speedup_ratio = std::numeric_limits<double>::infinity(); },
     "speedup_ratio"},
    {"max_model_len", [](mocker_config& c) { c.max_model_len = 0; }, "max_model_len"},
    {"max_waiting", [](mocker_config& c) { c.max_waiting = 0; }, "max_waiting"},
    {"watermark", [](mocker_config& c) { c.admission_watermark = 1.0; }, "admission_watermark"},
    {"token_range",
     [](mocker_config& c) {
       c.token_min = 100;
       c.token_max = 99;
     },
     "token_min"},
    {"no_chunking_small_budget",
     [](mocker_config& c) {
       c.enable_chunked_prefill = false;
       c.max_num_batched_tokens = 1024;
       c.max_model_len = 2048;
     },
     "chunked prefill"},
    {"kv_layers", [](mocker_config& c) { c.kv_layers = 0; }, "kv_layers"},
    {"kv_bytes_not_words",
     [](mocker_config& c) {
       c.kv_layers = 1;
       c.kv_bytes_per_token = 12;
     },
     "kv_bytes_per_token"},
    {"kv_bytes_not_per_layer",
     [](mocker_config& c) {
       c.kv_layers = 4;
       c.kv_bytes_per_token = 8 * 6;
     },
     "kv_bytes_per_token"},
    {"kv_pool_overflow",
     [](mocker_config& c) {
       c.block_size = 1u << 20;
       c.kv_bytes_per_token = 1u << 30;
       c.total_kv_blocks = 1u << 20;
     },
     "kv_bytes_per_token"},
  };
  for (const auto& bad : cases) {
    mocker_config cfg;
    bad.mutate(cfg);
    auto err = validate(cfg);
    ASSERT_TRUE(err) << bad.name << " should be rejected";
    EXPECT_EQ(classify(err), errc::invalid_request) << bad.name;
    EXPECT_THAT(client_message(err), HasSubstr(bad.message_part)) << bad.name;
  }
}

TEST(mocker_config, accepts_edge_values) {
  mocker_config cfg;
  cfg.block_size = 1;
  cfg.total_kv_blocks = 1;
  cfg.speedup_ratio = 1e-3;
  cfg.token_min = cfg.token_max = 65;
  cfg.admission_watermark = 0.0;
  EXPECT_FALSE(validate(cfg));
  cfg.enable_chunked_prefill = false;
  cfg.max_num_batched_tokens = cfg.max_model_len;
  EXPECT_FALSE(validate(cfg));
  cfg.kv_layers = 1;
  cfg.kv_bytes_per_token = 8;
  EXPECT_FALSE(validate(cfg));
  cfg.kv_layers = 3;
  cfg.kv_bytes_per_token = 8 * 3 * 5;
  EXPECT_FALSE(validate(cfg));
}

} // namespace
} // namespace dynamo::mocker
