#include "dynamo/reference/rope.hpp"

#include <cmath>
#include <numbers>

namespace dynamo::reference {

std::vector<float> rope_inv_freq(uint32_t head_dim, double theta, const model::rope_scaling& s) {
  size_t half = head_dim / 2;
  std::vector<float> out(half);
  for (size_t i = 0; i < half; ++i) {
    // HF: 1 / (base ** (arange(0, dim, 2).float() / dim)), evaluated in fp32.
    auto exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    out[i] = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(exponent)));
  }
  if (s.type == "linear") {
    for (auto& f : out)
      f = static_cast<float>(f / s.factor);
  } else if (s.type == "llama3") {
    double old_len = s.original_max_position_embeddings;
    double low_freq_wavelen = old_len / s.low_freq_factor;
    double high_freq_wavelen = old_len / s.high_freq_factor;
    for (auto& f : out) {
      double inv = f;
      double wavelen = 2 * std::numbers::pi / inv;
      double scaled = wavelen > low_freq_wavelen ? inv / s.factor : inv;
      bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      if (medium) {
        double smooth = (old_len / wavelen - s.low_freq_factor)
                        / (s.high_freq_factor - s.low_freq_factor);
        scaled = (1 - smooth) * scaled / s.factor + smooth * scaled;
      }
      f = static_cast<float>(scaled);
    }
  }
  return out;
}

void rope_angles(const float* inv_freq, size_t half, uint32_t pos, float* cos,
                 float* sin) noexcept {
  auto p = static_cast<float>(pos);
  for (size_t i = 0; i < half; ++i) {
    float angle = p * inv_freq[i];
    cos[i] = std::cos(angle);
    sin[i] = std::sin(angle);
  }
}

void rope_rotate(float* x, size_t heads, size_t half, const float* cos, const float* sin) noexcept {
  for (size_t h = 0; h < heads; ++h) {
    float* v = x + h * 2 * half;
    for (size_t i = 0; i < half; ++i) {
      float a = v[i];
      float b = v[i + half];
      v[i] = a * cos[i] - b * sin[i];
      v[i + half] = b * cos[i] + a * sin[i];
    }
  }
}

} // namespace dynamo::reference
