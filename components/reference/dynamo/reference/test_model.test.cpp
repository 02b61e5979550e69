// Implementation of test_model.hpp (compiled into the test binary only).
#include "dynamo/reference/test_model.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

namespace dynamo::reference::testing {

model::model_config tiny_config(bool qwen2) {
  model::model_config c;
  c.architecture = qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.model_type = qwen2 ? "qwen2" : "llama";
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 61;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.attention_bias = qwen2;
  c.tie_word_embeddings = qwen2;
  return c;
}

namespace {

model::tensor_data random_tensor(std::string name, std::vector<int64_t> shape, std::mt19937& rng,
                                 float center, float scale) {
  size_t n = 1;
  for (auto d : shape)
    n *= static_cast<size_t>(d);
  std::uniform_real_distribution<float> dist{center - scale, center + scale};
  std::vector<float> values(n);
  for (auto& v : values)
    v = dist(rng);
  model::tensor_data t;
  t.name = std::move(name);
  t.type = model::dtype::f32;
  t.shape = std::move(shape);
  t.bytes.resize(n * sizeof(float));
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

} // namespace

temp_model::temp_model(const model::model_config& cfg, uint32_t seed,
                       const std::function<void(std::vector<model::tensor_data>&)>& edit) {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path()
         / ("dynamo-reference-test-" + std::to_string(rd()) + "-" + std::to_string(seed));
  std::filesystem::create_directories(dir_);
  std::mt19937 rng{seed};
  auto h = static_cast<int64_t>(cfg.hidden_size);
  auto inter = static_cast<int64_t>(cfg.intermediate_size);
  auto q = static_cast<int64_t>(cfg.num_attention_heads) * cfg.head_dim;
  auto kv = static_cast<int64_t>(cfg.num_key_value_heads) * cfg.head_dim;
  auto vocab = static_cast<int64_t>(cfg.vocab_size);
  std::vector<model::tensor_data> ts;
  ts.push_back(random_tensor("model.embed_tokens.weight", {vocab, h}, rng, 0.0f, 1.0f));
  ts.push_back(random_tensor("model.norm.weight", {h}, rng, 1.0f, 0.2f));
  if (!cfg.tie_word_embeddings)
    ts.push_back(random_tensor("lm_head.weight", {vocab, h}, rng, 0.0f, 0.3f));
  for (uint32_t i = 0; i < cfg.num_hidden_layers; ++i) {
    auto p = "model.layers." + std::to_string(i) + ".";
    float ws = 0.3f;
    ts.push_back(random_tensor(p + "input_layernorm.weight", {h}, rng, 1.0f, 0.2f));
    ts.push_back(random_tensor(p + "post_attention_layernorm.weight", {h}, rng, 1.0f, 0.2f));
    ts.push_back(random_tensor(p + "self_attn.q_proj.weight", {q, h}, rng, 0.0f, ws));
    ts.push_back(random_tensor(p + "self_attn.k_proj.weight", {kv, h}, rng, 0.0f, ws));
    ts.push_back(random_tensor(p + "self_attn.v_proj.weight", {kv, h}, rng, 0.0f, ws));
    ts.push_back(random_tensor(p + "self_attn.o_proj.weight", {h, q}, rng, 0.0f, ws));
    if (cfg.attention_bias) {
      ts.push_back(random_tensor(p + "self_attn.q_proj.bias", {q}, rng, 0.0f, 0.5f));
      ts.push_back(random_tensor(p + "self_attn.k_proj.bias", {kv}, rng, 0.0f, 0.5f));
      ts.push_back(random_tensor(p + "self_attn.v_proj.bias", {kv}, rng, 0.0f, 0.5f));
    }
    ts.push_back(random_tensor(p + "mlp.gate_proj.weight", {inter, h}, rng, 0.0f, ws));
    ts.push_back(random_tensor(p + "mlp.up_proj.weight", {inter, h}, rng, 0.0f, ws));
    ts.push_back(random_tensor(p + "mlp.down_proj.weight", {h, inter}, rng, 0.0f, ws));
  }
  if (edit)
    edit(ts);
  std::ofstream{dir_ / "config.json"} << model::to_json(cfg);
  auto err = model::write_safetensors(dir_ / "model.safetensors", ts);
  EXPECT_FALSE(err) << "cannot write the test checkpoint";
}

temp_model::~temp_model() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

} // namespace dynamo::reference::testing
