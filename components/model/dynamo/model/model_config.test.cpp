#include "dynamo/model/model_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace dynamo::model {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Abbreviated from TinyLlama-1.1B-Chat's config.json.
constexpr std::string_view tinyllama = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 5632, "max_position_embeddings": 2048, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.35.0",
  "use_cache": true, "vocab_size": 32000})";

// Abbreviated from Llama-3.2-1B's config.json.
constexpr std::string_view llama32 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072,
  "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "vocab_size": 128256})";

// Abbreviated from Qwen2-0.5B-Instruct's config.json.
constexpr std::string_view qwen2 = R"({
  "architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151645,
  "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864,
  "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2",
  "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936})";

std::string parse_error(std::string_view json) {
  auto cfg = parse_model_config(json);
  EXPECT_FALSE(cfg) << "expected rejection of " << json;
  if (cfg)
    return {};
  EXPECT_EQ(classify(cfg.error()), errc::invalid_request);
  return client_message(cfg.error());
}

/// `base` with the field `key` set to the JSON `value` (added or replaced).
std::string with(std::string_view base, const std::string& key, std::string_view value) {
  auto doc = nlohmann::json::parse(base);
  doc[key] = nlohmann::json::parse(value);
  return doc.dump();
}

TEST(model_config, parses_tinyllama) {
  auto cfg = parse_model_config(tinyllama);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->architecture, "LlamaForCausalLM");
  EXPECT_EQ(cfg->model_type, "llama");
  EXPECT_EQ(cfg->hidden_size, 2048u);
  EXPECT_EQ(cfg->intermediate_size, 5632u);
  EXPECT_EQ(cfg->num_hidden_layers, 22u);
  EXPECT_EQ(cfg->num_attention_heads, 32u);
  EXPECT_EQ(cfg->num_key_value_heads, 4u);
  EXPECT_EQ(cfg->head_dim, 64u);
  EXPECT_EQ(cfg->q_size(), 2048u);
  EXPECT_EQ(cfg->kv_size(), 256u);
  EXPECT_EQ(cfg->vocab_size, 32000u);
  EXPECT_EQ(cfg->rms_norm_eps, 1e-5);
  EXPECT_EQ(cfg->rope.type, "none");
  EXPECT_FALSE(cfg->tie_word_embeddings);
  EXPECT_FALSE(cfg->attention_bias);
  EXPECT_EQ(cfg->bos_token_id, 1u);
  EXPECT_THAT(cfg->eos_token_ids, ElementsAre(2u));
  EXPECT_EQ(cfg->torch_dtype, "bfloat16");
}

TEST(model_config, parses_llama3_rope_scaling_and_eos_lists) {
  auto cfg = parse_model_config(llama32);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->rope.type, "llama3");
  EXPECT_EQ(cfg->rope.factor, 32.0);
  EXPECT_EQ(cfg->rope.low_freq_factor, 1.0);
  EXPECT_EQ(cfg->rope.high_freq_factor, 4.0);
  EXPECT_EQ(cfg->rope.original_max_position_embeddings, 8192u);
  EXPECT_EQ(cfg->rope_theta, 500000.0);
  EXPECT_THAT(cfg->eos_token_ids, ElementsAre(128001u, 128008u, 128009u));
  EXPECT_TRUE(cfg->tie_word_embeddings);
  auto legacy = parse_model_config(
    with(llama32, "rope_scaling", R"({"type": "linear", "factor": 2.0})"));
  ASSERT_TRUE(legacy) << describe(legacy.error());
  EXPECT_EQ(legacy->rope.type, "linear");
  EXPECT_EQ(legacy->rope.factor, 2.0);
}

TEST(model_config, qwen2_has_attention_bias_and_no_window_unless_enabled) {
  auto cfg = parse_model_config(qwen2);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->architecture, "Qwen2ForCausalLM");
  EXPECT_TRUE(cfg->attention_bias);
  EXPECT_FALSE(cfg->sliding_window);
  EXPECT_EQ(cfg->head_dim, 64u);
  auto windowed = parse_model_config(with(qwen2, "use_sliding_window", "true"));
  ASSERT_TRUE(windowed);
  EXPECT_EQ(windowed->sliding_window, 32768u);
}

TEST(model_config, accepts_model_type_without_architectures) {
  for (auto [type, arch] : {std::pair{"llama", "LlamaForCausalLM"},
                            std::pair{"mistral", "MistralForCausalLM"},
                            std::pair{"qwen2", "Qwen2ForCausalLM"}}) {
    auto cfg = parse_model_config(fmt::format(R"({{"model_type": "{}", "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4,
      "vocab_size": 100}})",
                                              type));
    ASSERT_TRUE(cfg) << type << ": " << describe(cfg.error());
    EXPECT_EQ(cfg->architecture, arch);
    EXPECT_EQ(cfg->num_key_value_heads, 4u);
    EXPECT_EQ(cfg->max_position_embeddings, 2048u);
    EXPECT_EQ(cfg->rope_theta, 10000.0);
  }
}

TEST(model_config, rejects_unsupported_architectures_and_rope_scaling) {
  EXPECT_EQ(parse_error(with(tinyllama, "architectures", R"(["GPT2LMHeadModel"])")),
            "config.json: unsupported architecture 'GPT2LMHeadModel'; supported: "
            "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
  EXPECT_THAT(parse_error(R"({"model_type": "gpt2"})"), HasSubstr("unsupported model_type 'gpt2'"));
  for (auto type : {"yarn", "dynamic", "longrope"})
    EXPECT_THAT(parse_error(with(llama32, "rope_scaling",
                                 fmt::format(R"({{"rope_type": "{}", "factor": 4.0}})", type))),
                HasSubstr(fmt::format("unsupported rope_scaling type '{}'", type)));
}

TEST(model_config, rejects_inconsistent_or_mistyped_fields) {
  EXPECT_THAT(parse_error("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(parse_error("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(parse_error(with(tinyllama, "hidden_size", "\"2048\"")), HasSubstr("'hidden_size'"));
  EXPECT_THAT(parse_error(with(tinyllama, "num_hidden_layers", "0")),
              HasSubstr("'num_hidden_layers' must be positive"));
  EXPECT_THAT(parse_error(with(tinyllama, "num_key_value_heads", "5")),
              HasSubstr("num_key_value_heads (5) does not divide num_attention_heads (32)"));
  EXPECT_THAT(parse_error(with(tinyllama, "num_attention_heads", "24")),
              HasSubstr("num_attention_heads (24) does not divide hidden_size (2048)"));
  EXPECT_THAT(parse_error(with(tinyllama, "hidden_act", "\"gelu\"")),
              HasSubstr("unsupported hidden_act 'gelu'"));
  EXPECT_THAT(parse_error(with(tinyllama, "attention_bias", "true")),
              HasSubstr("attention_bias=true is not supported"));
  EXPECT_THAT(parse_error(with(tinyllama, "eos_token_id", "32000")),
              HasSubstr("eos_token_id 32000 is outside vocab_size 32000"));
  EXPECT_THAT(parse_error(with(tinyllama, "eos_token_id", "[2, \"x\"]")),
              HasSubstr("'eos_token_id'"));
  EXPECT_THAT(parse_error(with(tinyllama, "rms_norm_eps", "-1")),
              HasSubstr("'rms_norm_eps' must be positive"));
  EXPECT_THAT(parse_error(with(llama32, "rope_scaling", R"({"rope_type": "llama3"})")),
              HasSubstr("'factor' is missing"));
  EXPECT_THAT(parse_error(with(llama32, "head_dim", "7")),
              HasSubstr("head_dim (7) must be a positive even number"));
  auto no_vocab = nlohmann::json::parse(tinyllama);
  no_vocab.erase("vocab_size");
  EXPECT_THAT(parse_error(no_vocab.dump()), HasSubstr("'vocab_size' is missing"));
}

TEST(model_config, to_json_round_trips) {
  for (auto text : {tinyllama, llama32, qwen2}) {
    auto cfg = parse_model_config(text);
    ASSERT_TRUE(cfg);
    auto again = parse_model_config(to_json(*cfg));
    ASSERT_TRUE(again) << describe(again.error()) << "\n" << to_json(*cfg);
    EXPECT_EQ(*again, *cfg) << to_json(*cfg);
  }
  model_config mistral;
  mistral.architecture = "MistralForCausalLM";
  mistral.model_type = "mistral";
  mistral.hidden_size = 64;
  mistral.intermediate_size = 96;
  mistral.num_hidden_layers = 2;
  mistral.num_attention_heads = 4;
  mistral.num_key_value_heads = 2;
  mistral.head_dim = 16;
  mistral.vocab_size = 300;
  mistral.sliding_window = 1024;
  mistral.rope = {"linear", 2.0};
  auto parsed = parse_model_config(to_json(mistral));
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_EQ(*parsed, mistral);
}

TEST(generation_config, parses_and_round_trips) {
  auto cfg = parse_generation_config(R"({"bos_token_id": 128000, "do_sample": true,
    "eos_token_id": [128001, 128009], "temperature": 0.6, "top_p": 0.9, "top_k": 50})");
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->bos_token_id, 128000u);
  EXPECT_THAT(cfg->eos_token_ids, ElementsAre(128001u, 128009u));
  EXPECT_EQ(cfg->temperature, 0.6);
  EXPECT_EQ(cfg->top_p, 0.9);
  EXPECT_EQ(cfg->top_k, 50);
  auto again = parse_generation_config(to_json(*cfg));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *cfg);
  auto single = parse_generation_config(R"({"eos_token_id": 2})");
  ASSERT_TRUE(single);
  EXPECT_THAT(single->eos_token_ids, ElementsAre(2u));
  EXPECT_FALSE(single->temperature);
  EXPECT_FALSE(parse_generation_config(R"({"top_p": 1.5})"));
  EXPECT_FALSE(parse_generation_config(R"({"top_k": "x"})"));
  EXPECT_FALSE(parse_generation_config("nope"));
}

} // namespace
} // namespace dynamo::model
