#include "dynamo/model/checkpoint.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/temp_dir.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace dynamo::model {
namespace {

using ::testing::HasSubstr;
using testing::temp_dir;

model_config small_config() {
  model_config cfg;
  cfg.architecture = "LlamaForCausalLM";
  cfg.model_type = "llama";
  cfg.hidden_size = 8;
  cfg.intermediate_size = 12;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 2;
  cfg.num_key_value_heads = 1;
  cfg.head_dim = 4;
  cfg.vocab_size = 10;
  cfg.bos_token_id = 1;
  cfg.eos_token_ids = {2};
  return cfg;
}

void write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream{path} << text;
}

/// Writes config.json and f32 weights whose every element is the index of its tensor, split
/// over `shards` files (with an index) when shards > 1.
void write_checkpoint(const std::filesystem::path& dir, const model_config& cfg,
                      size_t shards = 1) {
  write_text(dir / "config.json", to_json(cfg));
  auto specs = expected_tensors(cfg);
  std::vector<std::vector<tensor_data>> files(shards);
  nlohmann::json weight_map;
  for (size_t i = 0; i < specs.size(); ++i) {
    tensor_data t{specs[i].name, dtype::f32, specs[i].shape, {}};
    size_t n = 1;
    for (auto d : t.shape)
      n *= static_cast<size_t>(d);
    std::vector<float> values(n, static_cast<float>(i));
    t.bytes = from_f32(values, dtype::f32);
    const size_t shard = i * shards / specs.size();
    weight_map[t.name] = fmt::format("model-{:05}-of-{:05}.safetensors", shard + 1, shards);
    files[shard].push_back(std::move(t));
  }
  if (shards == 1) {
    ASSERT_FALSE(write_safetensors(dir / "model.safetensors", files[0]));
    return;
  }
  for (size_t s = 0; s < shards; ++s)
    ASSERT_FALSE(write_safetensors(
      dir / fmt::format("model-{:05}-of-{:05}.safetensors", s + 1, shards), files[s]));
  write_text(dir / "model.safetensors.index.json",
             nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
}

std::string open_error(const std::filesystem::path& dir) {
  auto ckpt = open_checkpoint(dir);
  EXPECT_FALSE(ckpt) << "expected " << dir << " to be rejected";
  if (ckpt)
    return {};
  EXPECT_EQ(classify(ckpt.error()), errc::invalid_request);
  return client_message(ckpt.error());
}

TEST(checkpoint, expected_tensors_follow_the_hf_layout) {
  auto cfg = small_config();
  auto specs = expected_tensors(cfg);
  ASSERT_EQ(specs.size(), 1u + 2u * 9u + 1u + 1u);
  EXPECT_EQ(specs.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(specs.front().shape, (std::vector<int64_t>{10, 8}));
  EXPECT_EQ(specs[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(specs[2].shape, (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(specs[3].shape, (std::vector<int64_t>{4, 8}));  // k_proj: kv_heads * head_dim
  EXPECT_EQ(specs.back().name, "lm_head.weight");
  cfg.tie_word_embeddings = true;
  cfg.attention_bias = true;
  specs = expected_tensors(cfg);
  EXPECT_EQ(specs.back().name, "model.norm.weight");
  EXPECT_EQ(specs.size(), 1u + 2u * 12u + 1u);
  EXPECT_EQ(specs[5].name, "model.layers.0.self_attn.q_proj.bias");
}

TEST(checkpoint, opens_a_single_file_checkpoint) {
  temp_dir dir{"single"};
  auto cfg = small_config();
  write_checkpoint(dir.path(), cfg);
  write_text(dir / "generation_config.json", R"({"eos_token_id": [2, 3], "temperature": 0.7})");
  auto ckpt = open_checkpoint(dir.path());
  ASSERT_TRUE(ckpt) << describe(ckpt.error());
  EXPECT_EQ(ckpt->config, cfg);
  EXPECT_EQ(ckpt->generation.eos_token_ids, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(ckpt->generation.temperature, 0.7);
  EXPECT_EQ(ckpt->tensors.names().size(), expected_tensors(cfg).size());
  auto norm = ckpt->tensors.find("model.norm.weight");
  ASSERT_TRUE(norm);
  EXPECT_EQ(norm->shape, (std::vector<int64_t>{8}));
  auto missing = ckpt->tensors.find("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(classify(missing.error()), errc::not_found);
  EXPECT_FALSE(ckpt->tensors.contains("nope"));
}

TEST(checkpoint, opens_a_sharded_checkpoint_through_its_index) {
  temp_dir dir{"sharded"};
  auto cfg = small_config();
  write_checkpoint(dir.path(), cfg, 3);
  auto ckpt = open_checkpoint(dir.path());
  ASSERT_TRUE(ckpt) << describe(ckpt.error());
  auto specs = expected_tensors(cfg);
  EXPECT_EQ(ckpt->tensors.names().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    auto view = ckpt->tensors.find(specs[i].name);
    ASSERT_TRUE(view) << specs[i].name;
    std::vector<float> values(view->elements());
    ASSERT_FALSE(to_f32(*view, values));
    EXPECT_EQ(values.front(), static_cast<float>(i)) << specs[i].name;
  }
}

TEST(checkpoint, rejects_a_missing_shard_or_a_tensor_its_shard_lacks) {
  temp_dir dir{"missing-shard"};
  write_checkpoint(dir.path(), small_config(), 2);
  std::filesystem::remove(dir / "model-00002-of-00002.safetensors");
  EXPECT_THAT(open_error(dir.path()),
              HasSubstr("shard model-00002-of-00002.safetensors listed in "
                        "model.safetensors.index.json is missing in"));

  temp_dir other{"lacking"};
  write_checkpoint(other.path(), small_config(), 2);
  auto index = nlohmann::json::parse(*read_file(other / "model.safetensors.index.json"));
  index["weight_map"]["model.extra.weight"] = "model-00001-of-00002.safetensors";
  write_text(other / "model.safetensors.index.json", index.dump());
  EXPECT_THAT(open_error(other.path()),
              HasSubstr("tensor 'model.extra.weight' listed in model.safetensors.index.json is "
                        "missing from shard"));
  write_text(other / "model.safetensors.index.json", R"({"weight_map": {"x": "../etc"}})");
  EXPECT_THAT(open_error(other.path()), HasSubstr("invalid shard name"));
  write_text(other / "model.safetensors.index.json", "{]");
  EXPECT_THAT(open_error(other.path()), HasSubstr("model.safetensors.index.json: not valid JSON"));
}

TEST(checkpoint, rejects_bad_directories_with_the_reason) {
  temp_dir dir{"bad"};
  EXPECT_THAT(open_error(dir / "absent"), HasSubstr("not a directory"));
  EXPECT_EQ(open_error(dir.path()), fmt::format("config.json missing in {}", dir.path().string()));
  write_text(dir / "config.json", to_json(small_config()));
  EXPECT_EQ(open_error(dir.path()),
            fmt::format("no weights: neither model.safetensors nor model.safetensors.index.json "
                        "in {}",
                        dir.path().string()));
}

TEST(checkpoint, rejects_unsupported_architecture_and_rope_scaling) {
  temp_dir dir{"unsupported"};
  write_checkpoint(dir.path(), small_config());
  auto doc = nlohmann::json::parse(to_json(small_config()));
  doc["architectures"] = {"GPT2LMHeadModel"};
  doc.erase("model_type");
  write_text(dir / "config.json", doc.dump());
  EXPECT_THAT(open_error(dir.path()),
              HasSubstr("unsupported architecture 'GPT2LMHeadModel'; supported: "
                        "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"));
  doc = nlohmann::json::parse(to_json(small_config()));
  doc["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  write_text(dir / "config.json", doc.dump());
  EXPECT_THAT(open_error(dir.path()), HasSubstr("unsupported rope_scaling type 'yarn'"));
  write_text(dir / "config.json", to_json(small_config()));
  write_text(dir / "generation_config.json", "{\"top_k\": []}");
  EXPECT_THAT(open_error(dir.path()), HasSubstr("generation_config.json: 'top_k'"));
}

TEST(checkpoint, rejects_weights_that_do_not_match_the_config) {
  temp_dir dir{"mismatch"};
  auto cfg = small_config();
  write_checkpoint(dir.path(), cfg);
  cfg.tie_word_embeddings = false;
  cfg.attention_bias = false;
  auto wider = cfg;
  wider.intermediate_size = 16;
  write_text(dir / "config.json", to_json(wider));
  EXPECT_THAT(open_error(dir.path()),
              HasSubstr("tensor 'model.layers.0.mlp.gate_proj.weight' has shape [12, 8], "
                        "config.json implies [16, 8]"));
  auto qwen = cfg;
  qwen.architecture = "Qwen2ForCausalLM";
  qwen.model_type = "qwen2";
  write_text(dir / "config.json", to_json(qwen));
  EXPECT_THAT(open_error(dir.path()),
              HasSubstr("lacks tensor 'model.layers.0.self_attn.q_proj.bias' (shape [8])"));
}

TEST(checkpoint, rejects_a_corrupt_weights_file_naming_it) {
  temp_dir dir{"corrupt"};
  write_checkpoint(dir.path(), small_config());
  uint64_t header_len = 0;
  std::ifstream{dir / "model.safetensors", std::ios::binary}.read(
    reinterpret_cast<char*>(&header_len), 8);
  std::filesystem::resize_file(dir / "model.safetensors", 8 + header_len + 4);
  EXPECT_THAT(open_error(dir.path()), HasSubstr("model.safetensors: truncated"));
}

} // namespace
} // namespace dynamo::model
