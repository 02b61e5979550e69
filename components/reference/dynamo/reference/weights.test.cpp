#include "dynamo/reference/weights.hpp"

#include "dynamo/error.hpp"
#include "dynamo/reference/test_model.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace dynamo::reference {
namespace {

using testing::temp_model;
using testing::tiny_config;

// Opens the tensors of `m` with `cfg` as the config (which may disagree with them).
caf::expected<std::unique_ptr<model_weights>> load_with(const temp_model& m,
                                                        const model::model_config& cfg) {
  auto tensors = model::tensor_store::open(m.dir());
  EXPECT_TRUE(tensors);
  if (!tensors)
    return std::move(tensors.error());
  model::checkpoint ckpt{m.dir(), cfg, {}, std::move(*tensors)};
  return model_weights::load(ckpt, default_logger("weights-test"));
}

float first_float(const model::tensor_data& t) {
  float f = 0;
  std::memcpy(&f, t.bytes.data(), sizeof f);
  return f;
}

TEST(model_weights, fuses_projections_and_unties_lm_head) {
  float q0 = 0, k0 = 0, gate0 = 0, up0 = 0, head0 = 0;
  auto cfg = tiny_config();
  temp_model m{cfg, 3, [&](std::vector<model::tensor_data>& ts) {
                 for (auto& t : ts) {
                   if (t.name == "model.layers.1.self_attn.q_proj.weight")
                     q0 = first_float(t);
                   else if (t.name == "model.layers.1.self_attn.k_proj.weight")
                     k0 = first_float(t);
                   else if (t.name == "model.layers.1.mlp.gate_proj.weight")
                     gate0 = first_float(t);
                   else if (t.name == "model.layers.1.mlp.up_proj.weight")
                     up0 = first_float(t);
                   else if (t.name == "lm_head.weight")
                     head0 = first_float(t);
                 }
               }};
  auto w = load_with(m, cfg);
  ASSERT_TRUE(w) << describe(w.error());
  auto& l = (*w)->layers.at(1);
  EXPECT_EQ(l.wqkv[0], q0);
  EXPECT_EQ(l.wqkv[32 * 32], k0);  // After 4 heads * 8 rows of 32.
  EXPECT_EQ(l.w_gate_up[0], gate0);
  EXPECT_EQ(l.w_gate_up[48 * 32], up0);
  EXPECT_EQ(l.bqkv, nullptr);
  EXPECT_EQ((*w)->lm_head[0], head0);
  EXPECT_NE((*w)->lm_head, (*w)->embed);
  EXPECT_GT((*w)->step_bytes(), 0u);
}

TEST(model_weights, qwen2_has_biases_and_tied_embeddings) {
  auto cfg = tiny_config(true);
  temp_model m{cfg};
  auto w = load_with(m, cfg);
  ASSERT_TRUE(w) << describe(w.error());
  EXPECT_EQ((*w)->lm_head, (*w)->embed);
  EXPECT_NE((*w)->layers.at(0).bqkv, nullptr);
  EXPECT_EQ((*w)->layers.at(0).bo, nullptr);
}

TEST(model_weights, wrong_shape_names_tensor_and_both_shapes) {
  auto cfg = tiny_config();
  temp_model m{cfg};
  cfg.intermediate_size = 64;  // The checkpoint has 48.
  auto w = load_with(m, cfg);
  ASSERT_FALSE(w);
  EXPECT_EQ(classify(w.error()), errc::invalid_request);
  EXPECT_EQ(client_message(w.error()),
            "tensor model.layers.0.mlp.gate_proj.weight has shape [48, 32], expected [64, 32]");
}

TEST(model_weights, missing_tensor_is_named) {
  auto cfg = tiny_config();
  temp_model m{cfg, 1, [](std::vector<model::tensor_data>& ts) {
                 std::erase_if(ts, [](const model::tensor_data& t) {
                   return t.name == "model.layers.1.self_attn.v_proj.weight";
                 });
               }};
  auto w = load_with(m, cfg);
  ASSERT_FALSE(w);
  EXPECT_EQ(classify(w.error()), errc::invalid_request);
  EXPECT_EQ(client_message(w.error()),
            "checkpoint lacks tensor model.layers.1.self_attn.v_proj.weight");
}

TEST(model_weights, untied_model_needs_lm_head) {
  auto cfg = tiny_config();
  temp_model m{cfg, 1, [](std::vector<model::tensor_data>& ts) {
                 std::erase_if(ts, [](const model::tensor_data& t) {
                   return t.name == "lm_head.weight";
                 });
               }};
  auto w = load_with(m, cfg);
  ASSERT_FALSE(w);
  EXPECT_EQ(client_message(w.error()), "checkpoint lacks tensor lm_head.weight");
  cfg.tie_word_embeddings = true;
  EXPECT_TRUE(load_with(m, cfg));
}

} // namespace
} // namespace dynamo::reference
