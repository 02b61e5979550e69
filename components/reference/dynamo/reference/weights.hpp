// The weights of a Llama-family checkpoint in fp32, validated against config.json and laid out
// for the forward pass: Q/K/V fused into one [q + 2 kv, hidden] matrix, gate/up into one
// [2 * intermediate, hidden] matrix.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/model/checkpoint.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <memory>
#include <vector>

namespace dynamo::reference {

/// One decoder layer's weights (borrowed from the owning model_weights).
struct layer_weights {
  const float* attn_norm = nullptr;  ///< [hidden] input_layernorm.
  const float* wqkv = nullptr;       ///< [(heads + 2 kv_heads) * head_dim, hidden].
  const float* bqkv = nullptr;       ///< [(heads + 2 kv_heads) * head_dim] or nullptr.
  const float* wo = nullptr;         ///< [hidden, heads * head_dim].
  const float* bo = nullptr;         ///< [hidden] or nullptr (Llama with attention_bias).
  const float* mlp_norm = nullptr;   ///< [hidden] post_attention_layernorm.
  const float* w_gate_up = nullptr;  ///< [2 * intermediate, hidden]: gate rows, then up rows.
  const float* w_down = nullptr;     ///< [hidden, intermediate].
};

/// All weights, owned. Immutable after load; any thread may read.
class model_weights {
public:
  /// Converts every tensor the architecture uses to fp32 and checks names and shapes against
  /// ckpt.config. Errors: invalid_request naming the tensor ("tensor model.layers.3.mlp.up_proj
  /// .weight has shape [64, 176], expected [176, 64]", or a missing tensor); overloaded when
  /// memory runs out. Tensors the architecture does not use are logged and ignored.
  static caf::expected<std::unique_ptr<model_weights>> load(const model::checkpoint& ckpt,
                                                            const logger_ptr& log);

  model_weights(const model_weights&) = delete;
  model_weights& operator=(const model_weights&) = delete;

  const float* embed = nullptr;       ///< [vocab, hidden] model.embed_tokens.
  const float* final_norm = nullptr;  ///< [hidden] model.norm.
  const float* lm_head = nullptr;     ///< [vocab, hidden]; equals embed when tied.
  std::vector<layer_weights> layers;  ///< One per decoder layer.

  /// Bytes of weights one decode step streams (all layers + lm_head; embeddings excluded).
  size_t step_bytes() const noexcept { return step_bytes_; }

private:
  model_weights() = default;

  float* allocate(size_t floats);

  std::vector<std::unique_ptr<float[]>> storage_;
  size_t step_bytes_ = 0;
};

} // namespace dynamo::reference
