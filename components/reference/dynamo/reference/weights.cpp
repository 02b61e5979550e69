#include "dynamo/reference/weights.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <new>
#include <set>
#include <span>
#include <string>

namespace dynamo::reference {

namespace {

// Reads tensors by name into fp32 buffers, checking shapes and remembering what it used.
class tensor_reader {
public:
  explicit tensor_reader(const model::tensor_store& store) : store_(store) {
  }

  // Converts tensor `name` (which must have `shape`) into out[0, product(shape)).
  caf::error read(const std::string& name, std::vector<int64_t> shape, float* out) {
    auto view = store_.find(name);
    if (!view)
      return make_error(errc::invalid_request,
                        fmt::format("checkpoint lacks tensor {}", name), describe(view.error()));
    if (view->shape != shape)
      return make_error(errc::invalid_request,
                        fmt::format("tensor {} has shape [{}], expected [{}]", name,
                                    fmt::join(view->shape, ", "), fmt::join(shape, ", ")));
    used_.insert(name);
    size_t n = 1;
    for (auto d : shape)
      n *= static_cast<size_t>(d);
    if (auto err = model::to_f32(*view, std::span<float>{out, n}))
      return make_error(errc::invalid_request,
                        fmt::format("cannot convert tensor {} to fp32", name), describe(err));
    return {};
  }

  bool contains(const std::string& name) const {
    return store_.contains(name);
  }

  // Names in the checkpoint that no read() used.
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (auto& name : store_.names())
      if (used_.count(name) == 0)
        out.push_back(name);
    return out;
  }

private:
  const model::tensor_store& store_;
  std::set<std::string> used_;
};

} // namespace

float* model_weights::allocate(size_t floats) {
  storage_.push_back(std::unique_ptr<float[]>(new float[floats]));
  return storage_.back().get();
}

caf::expected<std::unique_ptr<model_weights>>
model_weights::load(const model::checkpoint& ckpt, const logger_ptr& log) {
  const auto& c = ckpt.config;
  const auto hidden = static_cast<int64_t>(c.hidden_size);
  const auto inter = static_cast<int64_t>(c.intermediate_size);
  const auto hd = static_cast<int64_t>(c.head_dim);
  const auto q_rows = static_cast<int64_t>(c.num_attention_heads) * hd;
  const auto kv_rows = static_cast<int64_t>(c.num_key_value_heads) * hd;
  const auto vocab = static_cast<int64_t>(c.vocab_size);
  const bool qkv_bias = c.attention_bias;
  const bool o_bias = c.attention_bias && c.model_type != "qwen2";
  auto floats = [](int64_t a, int64_t b = 1) { return static_cast<size_t>(a * b); };
  try {
    std::unique_ptr<model_weights> w{new model_weights};
    tensor_reader reader{ckpt.tensors};
    auto embed = w->allocate(floats(vocab, hidden));
    if (auto err = reader.read("model.embed_tokens.weight", {vocab, hidden}, embed))
      return err;
    w->embed = embed;
    auto norm = w->allocate(floats(hidden));
    if (auto err = reader.read("model.norm.weight", {hidden}, norm))
      return err;
    w->final_norm = norm;
    if (c.tie_word_embeddings) {
      w->lm_head = embed;
    } else {
      auto head = w->allocate(floats(vocab, hidden));
      if (auto err = reader.read("lm_head.weight", {vocab, hidden}, head))
        return err;
      w->lm_head = head;
    }
    for (uint32_t i = 0; i < c.num_hidden_layers; ++i) {
      auto p = fmt::format("model.layers.{}.", i);
      layer_weights l;
      auto attn_norm = w->allocate(floats(hidden));
      if (auto err = reader.read(p + "input_layernorm.weight", {hidden}, attn_norm))
        return err;
      l.attn_norm = attn_norm;
      auto wqkv = w->allocate(floats(q_rows + 2 * kv_rows, hidden));
      if (auto err = reader.read(p + "self_attn.q_proj.weight", {q_rows, hidden}, wqkv))
        return err;
      if (auto err = reader.read(p + "self_attn.k_proj.weight", {kv_rows, hidden},
                                 wqkv + floats(q_rows, hidden)))
        return err;
      if (auto err = reader.read(p + "self_attn.v_proj.weight", {kv_rows, hidden},
                                 wqkv + floats(q_rows + kv_rows, hidden)))
        return err;
      l.wqkv = wqkv;
      if (qkv_bias) {
        auto bqkv = w->allocate(floats(q_rows + 2 * kv_rows));
        if (auto err = reader.read(p + "self_attn.q_proj.bias", {q_rows}, bqkv))
          return err;
        if (auto err = reader.read(p + "self_attn.k_proj.bias", {kv_rows}, bqkv + q_rows))
          return err;
        if (auto err = reader.read(p + "self_attn.v_proj.bias", {kv_rows},
                                   bqkv + q_rows + kv_rows))
          return err;
        l.bqkv = bqkv;
      }
      auto wo = w->allocate(floats(hidden, q_rows));
      if (auto err = reader.read(p + "self_attn.o_proj.weight", {hidden, q_rows}, wo))
        return err;
      l.wo = wo;
      if (o_bias) {
        auto bo = w->allocate(floats(hidden));
        if (auto err = reader.read(p + "self_attn.o_proj.bias", {hidden}, bo))
          return err;
        l.bo = bo;
      }
      auto mlp_norm = w->allocate(floats(hidden));
      if (auto err = reader.read(p + "post_attention_layernorm.weight", {hidden}, mlp_norm))
        return err;
      l.mlp_norm = mlp_norm;
      auto gate_up = w->allocate(floats(2 * inter, hidden));
      if (auto err = reader.read(p + "mlp.gate_proj.weight", {inter, hidden}, gate_up))
        return err;
      if (auto err = reader.read(p + "mlp.up_proj.weight", {inter, hidden},
                                 gate_up + floats(inter, hidden)))
        return err;
      l.w_gate_up = gate_up;
      auto down = w->allocate(floats(hidden, inter));
      if (auto err = reader.read(p + "mlp.down_proj.weight", {hidden, inter}, down))
        return err;
      l.w_down = down;
      w->layers.push_back(l);
    }
    size_t layer_floats = floats(q_rows + 2 * kv_rows, hidden) + floats(hidden, q_rows)
                          + floats(3 * inter, hidden) + floats(2 * hidden);
    w->step_bytes_ = (layer_floats * c.num_hidden_layers + floats(vocab + 1, hidden))
                     * sizeof(float);
    auto unused = reader.unused();
    if (!unused.empty()) {
      constexpr size_t shown = 8;
      log->warn("{} checkpoint tensors are not used by {}: {}{}", unused.size(), c.architecture,
                fmt::join(unused.begin(), unused.begin() + std::min(shown, unused.size()), ", "),
                unused.size() > shown ? ", ..." : "");
    }
    return w;
  } catch (const std::bad_alloc&) {
    return make_error(errc::overloaded, "not enough memory for the model weights",
                      fmt::format("fp32 weights of {} do not fit in memory", ckpt.dir.string()));
  }
}

} // namespace dynamo::reference
