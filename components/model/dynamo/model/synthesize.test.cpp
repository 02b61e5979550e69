#include "dynamo/model/synthesize.hpp"

#include "dynamo/error.hpp"
#include "dynamo/model/checkpoint.hpp"
#include "dynamo/model/corpus.hpp"
#include "dynamo/testing/temp_dir.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <thread>

namespace dynamo::model {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::temp_dir;

logger_ptr quiet_logger() {
  auto log = default_logger("synth-test");
  log->set_level(spdlog::level::warn);
  return log;
}

/// A smaller-than-tiny spec so each test synthesizes in well under a second.
synth_spec mini(uint64_t seed = 1) {
  synth_spec spec;
  spec.layers = 2;
  spec.hidden = 32;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 48;
  spec.vocab = 384;
  spec.context = 256;
  spec.seed = seed;
  return spec;
}

std::string slurp(const fs::path& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text) << path;
  return text ? *text : std::string{};
}

std::vector<float> values_of(const checkpoint& ckpt, const std::string& name) {
  auto view = ckpt.tensors.find(name);
  EXPECT_TRUE(view) << name;
  if (!view)
    return {};
  std::vector<float> out(view->elements());
  EXPECT_FALSE(to_f32(*view, out));
  return out;
}

TEST(synthesize, presets_and_validation) {
  auto tiny = synth_preset("tiny");
  ASSERT_TRUE(tiny);
  EXPECT_TRUE(tiny->same_model(synth_spec{}));
  auto small = synth_preset("small-100m");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->layers, 12u);
  EXPECT_EQ(small->hidden, 768u);
  EXPECT_EQ(small->heads, 12u);
  EXPECT_EQ(small->kv_heads, 4u);
  EXPECT_EQ(small->intermediate, 2048u);
  EXPECT_EQ(small->vocab, 32000u);
  EXPECT_EQ(small->context, 4096u);
  EXPECT_FALSE(validate(*small));
  auto unknown = synth_preset("huge");
  ASSERT_FALSE(unknown);
  EXPECT_THAT(client_message(unknown.error()), HasSubstr("presets: tiny, small-100m"));

  const std::pair<std::function<void(synth_spec&)>, const char*> bad[] = {
    {[](synth_spec& s) { s.layers = 0; }, "layers must be positive"},
    {[](synth_spec& s) { s.heads = 5; }, "heads (5) must divide hidden (64)"},
    {[](synth_spec& s) { s.kv_heads = 3; }, "kv_heads (3) must divide heads (4)"},
    {[](synth_spec& s) { s.hidden = 36; }, "must be even"},
    {[](synth_spec& s) { s.architecture = "GPT2LMHeadModel"; }, "unknown architecture"},
    {[](synth_spec& s) { s.rope = "yarn"; }, "unknown rope 'yarn'"},
    {[](synth_spec& s) { s.tokenizer = "wordpiece"; }, "unknown tokenizer"},
    {[](synth_spec& s) { s.shards = 100; }, "shards (100) exceeds the number of tensors (20)"},
    {[](synth_spec& s) { s.hidden = 65536; s.intermediate = 65536; }, "parameters"},
  };
  for (const auto& [mutate, message] : bad) {
    synth_spec spec;
    mutate(spec);
    auto err = validate(spec);
    EXPECT_EQ(classify(err), errc::invalid_request) << message;
    EXPECT_THAT(client_message(err), HasSubstr(message));
  }
}

TEST(synthesize, spec_marker_round_trips) {
  auto spec = mini(42);
  spec.architecture = "Qwen2ForCausalLM";
  spec.weight_dtype = dtype::f16;
  spec.shards = 3;
  spec.tokenizer = "sentencepiece";
  auto parsed = parse_synth_spec(to_json(spec));
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_TRUE(parsed->same_model(spec));
  EXPECT_FALSE(parse_synth_spec("{}"));
  EXPECT_FALSE(parse_synth_spec("not json"));
}

TEST(synthesize, writes_a_checkpoint_that_opens_with_the_config_it_promised) {
  temp_dir tmp{"synth-open"};
  const auto dir = tmp / "model";
  ASSERT_FALSE(synthesize(mini(), dir, quiet_logger()));
  auto ckpt = open_checkpoint(dir);
  ASSERT_TRUE(ckpt) << describe(ckpt.error());
  const auto& cfg = ckpt->config;
  EXPECT_EQ(cfg.architecture, "LlamaForCausalLM");
  EXPECT_EQ(cfg.num_hidden_layers, 2u);
  EXPECT_EQ(cfg.hidden_size, 32u);
  EXPECT_EQ(cfg.num_attention_heads, 4u);
  EXPECT_EQ(cfg.num_key_value_heads, 2u);
  EXPECT_EQ(cfg.head_dim, 8u);
  EXPECT_EQ(cfg.intermediate_size, 48u);
  EXPECT_EQ(cfg.vocab_size, 384u);
  EXPECT_EQ(cfg.max_position_embeddings, 256u);
  EXPECT_EQ(cfg.rope.type, "llama3");
  EXPECT_EQ(cfg.rope.original_max_position_embeddings, 64u);
  EXPECT_TRUE(cfg.tie_word_embeddings);
  EXPECT_FALSE(cfg.attention_bias);
  EXPECT_EQ(cfg.torch_dtype, "bfloat16");
  // ChatML specials come first: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2.
  EXPECT_EQ(cfg.bos_token_id, 0u);
  EXPECT_THAT(cfg.eos_token_ids, ElementsAre(2u, 0u));
  EXPECT_EQ(ckpt->generation.eos_token_ids, cfg.eos_token_ids);
  EXPECT_EQ(ckpt->generation.bos_token_id, 0u);
  EXPECT_EQ(cfg, synth_model_config(mini(), 0, {2, 0}));
  EXPECT_FALSE(ckpt->tensors.contains("lm_head.weight"));
  auto embed = ckpt->tensors.find("model.embed_tokens.weight");
  ASSERT_TRUE(embed);
  EXPECT_EQ(embed->type, dtype::bf16);

  auto tok_config = nlohmann::json::parse(slurp(dir / "tokenizer_config.json"));
  EXPECT_EQ(tok_config["bos_token"], "<|endoftext|>");
  EXPECT_EQ(tok_config["eos_token"], "<|endoftext|>");
  EXPECT_EQ(tok_config["add_bos_token"], false);
  EXPECT_EQ(tok_config["model_max_length"], 256);
  EXPECT_THAT(tok_config["chat_template"].get<std::string>(), HasSubstr("<|im_start|>assistant"));
  auto tok = nlohmann::json::parse(slurp(dir / "tokenizer.json"));
  ASSERT_TRUE(tok["added_tokens"].is_array());
  EXPECT_EQ(tok["added_tokens"][2]["content"], "<|im_end|>");
  EXPECT_LE(tok["model"]["vocab"].size(), 384u);
  auto marker = parse_synth_spec(slurp(dir / "synth.json"));
  ASSERT_TRUE(marker);
  EXPECT_TRUE(marker->same_model(mini()));
  // Nothing but the model is left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator{tmp.path()}, fs::directory_iterator{}), 1);
}

TEST(synthesize, weights_have_sensible_scales) {
  temp_dir tmp{"synth-scale"};
  auto spec = mini();
  spec.weight_dtype = dtype::f32;
  spec.tie_word_embeddings = false;
  ASSERT_FALSE(synthesize(spec, tmp / "m", quiet_logger()));
  auto ckpt = open_checkpoint(tmp / "m");
  ASSERT_TRUE(ckpt) << describe(ckpt.error());
  auto stats = [&](const std::string& name) {
    auto v = values_of(*ckpt, name);
    double sum = 0, sq = 0;
    for (float x : v) {
      sum += x;
      sq += double{x} * x;
    }
    const double mean = sum / static_cast<double>(v.size());
    return std::pair{mean, std::sqrt(sq / static_cast<double>(v.size()) - mean * mean)};
  };
  auto [norm_mean, norm_std] = stats("model.layers.1.input_layernorm.weight");
  EXPECT_NEAR(norm_mean, 1.0, 0.03);
  EXPECT_LT(norm_std, 0.1);
  auto [q_mean, q_std] = stats("model.layers.0.self_attn.q_proj.weight");
  EXPECT_NEAR(q_mean, 0.0, 0.02);
  EXPECT_NEAR(q_std, 1.0 / std::sqrt(32.0), 0.02);
  auto [down_mean, down_std] = stats("model.layers.0.mlp.down_proj.weight");
  EXPECT_NEAR(down_std, 4.0 / std::sqrt(48.0), 0.05);
  auto [head_mean, head_std] = stats("lm_head.weight");
  EXPECT_NEAR(head_std, 4.0 / std::sqrt(32.0), 0.05);
  EXPECT_NE(values_of(*ckpt, "lm_head.weight"), values_of(*ckpt, "model.embed_tokens.weight"));
}

TEST(synthesize, is_deterministic_per_seed) {
  temp_dir tmp{"synth-seed"};
  ASSERT_FALSE(synthesize(mini(7), tmp / "a", quiet_logger()));
  ASSERT_FALSE(synthesize(mini(7), tmp / "b", quiet_logger()));
  ASSERT_FALSE(synthesize(mini(8), tmp / "c", quiet_logger()));
  for (const auto* name : {"model.safetensors", "config.json", "generation_config.json",
                           "tokenizer.json", "tokenizer_config.json", "synth.json"})
    EXPECT_EQ(slurp(tmp / "a" / name), slurp(tmp / "b" / name)) << name;
  EXPECT_NE(slurp(tmp / "a" / "model.safetensors"), slurp(tmp / "c" / "model.safetensors"));
  EXPECT_EQ(slurp(tmp / "a" / "tokenizer.json"), slurp(tmp / "c" / "tokenizer.json"));
}

TEST(synthesize, sharded_output_opens_with_the_same_values) {
  temp_dir tmp{"synth-shards"};
  auto spec = mini();
  ASSERT_FALSE(synthesize(spec, tmp / "single", quiet_logger()));
  spec.shards = 3;
  ASSERT_FALSE(synthesize(spec, tmp / "sharded", quiet_logger()));
  for (const auto* name : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                           "model-00003-of-00003.safetensors", "model.safetensors.index.json"})
    EXPECT_TRUE(fs::exists(tmp / "sharded" / name)) << name;
  EXPECT_FALSE(fs::exists(tmp / "sharded" / "model.safetensors"));
  auto single = open_checkpoint(tmp / "single");
  auto sharded = open_checkpoint(tmp / "sharded");
  ASSERT_TRUE(single) << describe(single.error());
  ASSERT_TRUE(sharded) << describe(sharded.error());
  ASSERT_EQ(single->tensors.names(), sharded->tensors.names());
  for (const auto& name : single->tensors.names())
    EXPECT_EQ(values_of(*single, name), values_of(*sharded, name)) << name;
  auto index = nlohmann::json::parse(slurp(tmp / "sharded" / "model.safetensors.index.json"));
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.norm.weight"], "model-00003-of-00003.safetensors");
  EXPECT_GT(index["metadata"]["total_size"].get<uint64_t>(), 0u);
}

TEST(synthesize, qwen2_has_biases_and_sentencepiece_uses_llama2_specials) {
  temp_dir tmp{"synth-qwen"};
  auto spec = mini();
  spec.architecture = "Qwen2ForCausalLM";
  spec.weight_dtype = dtype::f16;
  spec.rope = "none";
  spec.tokenizer = "sentencepiece";
  ASSERT_FALSE(synthesize(spec, tmp / "q", quiet_logger()));
  auto ckpt = open_checkpoint(tmp / "q");
  ASSERT_TRUE(ckpt) << describe(ckpt.error());
  EXPECT_TRUE(ckpt->config.attention_bias);
  EXPECT_EQ(ckpt->config.rope.type, "none");
  for (const auto* name : {"q_proj", "k_proj", "v_proj"}) {
    auto bias = ckpt->tensors.find(fmt::format("model.layers.1.self_attn.{}.bias", name));
    ASSERT_TRUE(bias) << name;
    EXPECT_EQ(bias->type, dtype::f16);
  }
  EXPECT_FALSE(ckpt->tensors.contains("model.layers.0.self_attn.o_proj.bias"));
  // <unk> 0, <s> 1, </s> 2.
  EXPECT_EQ(ckpt->config.bos_token_id, 1u);
  EXPECT_THAT(ckpt->config.eos_token_ids, ElementsAre(2u));
  auto tok_config = nlohmann::json::parse(slurp(tmp / "q" / "tokenizer_config.json"));
  EXPECT_EQ(tok_config["add_bos_token"], true);
  EXPECT_EQ(tok_config["bos_token"], "<s>");
  EXPECT_EQ(tok_config["eos_token"], "</s>");
  EXPECT_THAT(tok_config["chat_template"].get<std::string>(), HasSubstr("[INST]"));
}

TEST(synthesize, refuses_to_overwrite_unless_asked) {
  temp_dir tmp{"synth-overwrite"};
  const auto dir = tmp / "m";
  fs::create_directories(dir);
  std::ofstream{dir / "keep.txt"} << "mine";
  auto err = synthesize(mini(), dir, quiet_logger());
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_THAT(client_message(err), HasSubstr("exists and is not empty"));
  EXPECT_TRUE(fs::exists(dir / "keep.txt"));
  auto spec = mini();
  spec.overwrite = true;
  ASSERT_FALSE(synthesize(spec, dir, quiet_logger()));
  EXPECT_FALSE(fs::exists(dir / "keep.txt"));
  EXPECT_TRUE(open_checkpoint(dir));
  EXPECT_EQ(std::distance(fs::directory_iterator{tmp.path()}, fs::directory_iterator{}), 1);
  // An empty directory is simply filled.
  fs::create_directories(tmp / "empty");
  EXPECT_FALSE(synthesize(mini(), tmp / "empty", quiet_logger()));
}

TEST(synthesize, ensure_synthesized_reuses_a_matching_model_and_replaces_a_stale_one) {
  temp_dir tmp{"synth-ensure"};
  const auto dir = tmp / "cache" / "mini";
  auto first = ensure_synthesized(mini(), dir, quiet_logger());
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_EQ(*first, fs::absolute(dir));
  const auto stamp = fs::last_write_time(dir / "synth.json");
  auto again = ensure_synthesized(mini(), dir, quiet_logger());
  ASSERT_TRUE(again);
  EXPECT_EQ(fs::last_write_time(dir / "synth.json"), stamp);
  auto other = ensure_synthesized(mini(9), dir, quiet_logger());
  ASSERT_TRUE(other) << describe(other.error());
  auto marker = parse_synth_spec(slurp(dir / "synth.json"));
  ASSERT_TRUE(marker);
  EXPECT_EQ(marker->seed, 9u);
  fs::create_directories(tmp / "foreign");
  std::ofstream{tmp / "foreign" / "data.bin"} << "x";
  auto refused = ensure_synthesized(mini(), tmp / "foreign", quiet_logger());
  ASSERT_FALSE(refused);
  EXPECT_THAT(client_message(refused.error()), HasSubstr("is not a synthesized model"));
  EXPECT_FALSE(ensure_synthesized("nope", tmp / "x", quiet_logger()));
}

TEST(synthesize, concurrent_ensure_synthesized_calls_agree_on_one_model) {
  temp_dir tmp{"synth-race"};
  const auto dir = tmp / "shared";
  std::vector<caf::expected<fs::path>> results(3, caf::expected<fs::path>{fs::path{}});
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&results, i, dir] {
      results[i] = ensure_synthesized(mini(), dir, quiet_logger());
    });
  for (auto& t : threads)
    t.join();
  for (const auto& r : results)
    ASSERT_TRUE(r) << describe(r.error());
  EXPECT_TRUE(open_checkpoint(dir));
  // No temporary directories are left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator{tmp.path()}, fs::directory_iterator{}), 1);
}

TEST(synthesize, reports_an_unusable_output_path) {
  temp_dir tmp{"synth-badpath"};
  std::ofstream{tmp / "file"} << "x";
  auto err = synthesize(mini(), tmp / "file" / "model", quiet_logger());
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_THAT(client_message(err), HasSubstr("cannot create"));
}

TEST(synthesize, corpus_is_original_mixed_text_of_the_promised_size) {
  const auto text = training_corpus();
  EXPECT_GE(text.size(), 15'000u);
  EXPECT_LE(text.size(), 25'000u);
  EXPECT_THAT(std::string{text}, HasSubstr("café"));
  EXPECT_THAT(std::string{text}, HasSubstr("def total(values):"));
  EXPECT_THAT(std::string{text}, HasSubstr("🚀"));
}

} // namespace
} // namespace dynamo::model
