#include "dynamo/reference/reference_config.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace dynamo;
using namespace dynamo::reference;

namespace {

reference_config good() {
  reference_config cfg;
  cfg.model_dir = "/models/tiny";
  return cfg;
}

void expect_invalid(const reference_config& cfg, const std::string& needle) {
  const auto err = validate(cfg);
  ASSERT_TRUE(err) << "expected a complaint about " << needle;
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_NE(client_message(err).find(needle), std::string::npos) << client_message(err);
  EXPECT_NE(client_message(err).find("reference"), std::string::npos) << client_message(err);
}

} // namespace

TEST(reference_config, defaults_with_a_model_dir_are_valid) {
  EXPECT_FALSE(validate(good()));
}

TEST(reference_config, validate_names_the_first_bad_field) {
  auto cfg = good();
  cfg.model_dir.clear();
  expect_invalid(cfg, "model_dir");
  cfg = good();
  cfg.kv_cache_bytes = 0;
  expect_invalid(cfg, "kv_cache_bytes");
  cfg = good();
  cfg.threads = 100000;
  expect_invalid(cfg, "threads");
  cfg = good();
  cfg.block_size = 0;
  expect_invalid(cfg, "block_size");
  cfg = good();
  cfg.max_num_seqs = 0;
  expect_invalid(cfg, "max_num_seqs");
  cfg = good();
  cfg.enable_chunked_prefill = false;
  cfg.max_num_batched_tokens = 16;
  expect_invalid(cfg, "max_num_batched_tokens");
}
