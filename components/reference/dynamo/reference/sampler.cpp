#include "dynamo/reference/sampler.hpp"

#include "dynamo/engine/mix.hpp"
#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace dynamo::reference {

using engine::golden_gamma;
using engine::mix64;

namespace {

// NaN never wins: it ranks like -inf.
float rank_value(float x) noexcept {
  return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x;
}

// Strict total order "a is better than b": higher logit first, lower id among equals.
struct better {
  const float* logits;
  bool operator()(uint32_t a, uint32_t b) const noexcept {
    const float x = rank_value(logits[a]);
    const float y = rank_value(logits[b]);
    if (x != y)
      return x > y;
    return a < b;
  }
};

uint32_t argmax(std::span<const float> logits) noexcept {
  uint32_t best = 0;
  float best_value = rank_value(logits[0]);
  for (size_t i = 1; i < logits.size(); ++i) {
    const float v = rank_value(logits[i]);
    if (v > best_value) {
      best = static_cast<uint32_t>(i);
      best_value = v;
    }
  }
  return best;
}

// Draws from `candidates` (any order) with probability proportional to weights[id]; `mass` is
// the sum of their weights. Rounding may leave the running sum just under the target: the
// last candidate with a non-zero weight is taken then.
uint32_t draw(std::span<const uint32_t> candidates, const std::vector<double>& weights,
              double mass, double u) noexcept {
  const double target = u * mass;
  double cumulative = 0.0;
  uint32_t last = candidates.front();
  for (const uint32_t id : candidates) {
    const double w = weights[id];
    if (w <= 0.0)
      continue;
    cumulative += w;
    last = id;
    if (cumulative > target)
      return id;
  }
  return last;
}

} // namespace

caf::error validate(const engine::sampling_params& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f)
    return make_error(errc::invalid_request,
                      fmt::format("temperature must be a finite number >= 0, got {}",
                                  p.temperature));
  if (!std::isfinite(p.top_p) || p.top_p <= 0.0f || p.top_p > 1.0f)
    return make_error(errc::invalid_request,
                      fmt::format("top_p must be in (0, 1], got {}", p.top_p));
  if (p.top_k < 0)
    return make_error(errc::invalid_request,
                      fmt::format("top_k must be >= 0 (0 disables it), got {}", p.top_k));
  return {};
}

double uniform_draw(uint64_t stream_seed, uint32_t position) noexcept {
  // Element `position` of a SplitMix64 stream whose state starts at mix64(stream_seed).
  const uint64_t state = mix64(stream_seed) + (uint64_t{position} + 1) * golden_gamma;
  return static_cast<double>(mix64(state) >> 11) * 0x1.0p-53;
}

engine::token_id sample(std::span<const float> logits, const engine::sampling_params& p,
                        uint64_t stream_seed, uint32_t position, sampler_scratch& scratch) {
  if (logits.empty())
    on_internal_error("sampler: empty logits row");
  if (logits.size() > std::numeric_limits<uint32_t>::max())
    on_internal_error("sampler: vocabulary exceeds 32-bit token ids");
  if (validate(p))
    on_internal_error("sampler: sampling parameters were not validated");
  const uint32_t best = argmax(logits);
  const float max_logit = logits[best];
  if (p.temperature == 0.0f || p.top_k == 1 || !std::isfinite(max_logit))
    return best;
  const size_t n = logits.size();
  const double inv_temperature = 1.0 / static_cast<double>(p.temperature);
  auto& weights = scratch.weights;
  weights.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = logits[i];
    if (std::isnan(v)) {
      weights[i] = 0.0;
      continue;
    }
    // v == max_logit is handled apart: a tiny temperature would turn 0 * inf into NaN.
    const double delta = static_cast<double>(v) - static_cast<double>(max_logit);
    weights[i] = delta == 0.0 ? 1.0 : std::exp(delta * inv_temperature);
  }
  const double u = uniform_draw(stream_seed, position);
  const bool use_top_k = p.top_k > 0 && static_cast<size_t>(p.top_k) < n;
  const bool use_top_p = p.top_p < 1.0f;
  if (!use_top_k && !use_top_p) {
    // The whole vocabulary in id order: no sorting needed.
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    const double target = u * total;
    double cumulative = 0.0;
    uint32_t last = best;
    for (size_t i = 0; i < n; ++i) {
      if (weights[i] <= 0.0)
        continue;
      cumulative += weights[i];
      last = static_cast<uint32_t>(i);
      if (cumulative > target)
        return last;
    }
    return last;
  }
  auto& candidates = scratch.candidates;
  candidates.resize(n);
  std::iota(candidates.begin(), candidates.end(), uint32_t{0});
  const better cmp{logits.data()};
  const auto first = candidates.begin();
  size_t end = n;
  if (use_top_k) {
    end = static_cast<size_t>(p.top_k);
    std::nth_element(first, first + static_cast<ptrdiff_t>(end), candidates.end(), cmp);
  }
  double total = 0.0;
  for (size_t i = 0; i < end; ++i)
    total += weights[candidates[i]];
  if (!use_top_p) {
    std::sort(first, first + static_cast<ptrdiff_t>(end), cmp);
    return draw(std::span{candidates}.first(end), weights, total, u);
  }
  // Nucleus: walk best-first, sorting the candidates in growing chunks (usually only the
  // first chunk), and keep tokens while the mass before them is below top_p of the total.
  const double threshold = static_cast<double>(p.top_p) * total;
  size_t sorted = 0;
  size_t kept = 0;
  size_t chunk = 64;
  double mass = 0.0;
  while (kept < end && (kept == 0 || mass < threshold)) {
    if (kept == sorted) {
      const size_t next = std::min(end, sorted + chunk);
      chunk *= 4;
      if (next < end)
        std::nth_element(first + static_cast<ptrdiff_t>(sorted),
                         first + static_cast<ptrdiff_t>(next),
                         first + static_cast<ptrdiff_t>(end), cmp);
      std::sort(first + static_cast<ptrdiff_t>(sorted), first + static_cast<ptrdiff_t>(next),
                cmp);
      sorted = next;
    }
    mass += weights[candidates[kept]];
    ++kept;
  }
  return draw(std::span{candidates}.first(kept), weights, mass, u);
}

} // namespace dynamo::reference
