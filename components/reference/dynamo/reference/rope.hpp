// Rotary position embeddings as Hugging Face's Llama/Qwen2 apply them: the "rotate_half"
// convention (dimension i is paired with i + head_dim / 2), inverse frequencies with the
// "llama3" or "linear" scaling of config.json.
#pragma once

#include "dynamo/model/model_config.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dynamo::reference {

/// The head_dim / 2 inverse frequencies theta^(-2i/d), rescaled as HF's
/// _compute_llama3_parameters ("llama3") or divided by the factor ("linear"). Any thread.
std::vector<float> rope_inv_freq(uint32_t head_dim, double theta, const model::rope_scaling& s);

/// Fills cos[i] and sin[i] (i < half) for the angle float(pos) * inv_freq[i] (fp32 product, as
/// HF computes it). Any thread.
void rope_angles(const float* inv_freq, size_t half, uint32_t pos, float* cos,
                 float* sin) noexcept;

/// Rotates `heads` consecutive vectors of 2 * half floats at x in place:
/// x[i] <- x[i] cos[i] - x[i + half] sin[i], x[i + half] <- x[i + half] cos[i] + x[i] sin[i].
/// Any thread.
void rope_rotate(float* x, size_t heads, size_t half, const float* cos, const float* sin) noexcept;

} // namespace dynamo::reference
