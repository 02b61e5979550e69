#include "dynamo/mocker/timing_model.hpp"

#include <algorithm>
#include <cmath>

namespace dynamo::mocker {

double prefill_ms(uint64_t tokens) noexcept {
  if (tokens == 0)
    return 0.0;
  const auto t = static_cast<double>(tokens);
  return 4.209989e-7 * t * t + 1.518344e-2 * t + 16.50142;
}

double decode_ms(double kv_utilization) noexcept {
  const double u = std::isfinite(kv_utilization) ? std::clamp(kv_utilization, 0.0, 1.0) : 0.0;
  return std::max(1.0, -25.74 * u * u + 54.01 * u + 5.74);
}

std::chrono::nanoseconds timing_model::step_delay(uint64_t prefill_tokens,
                                                  uint32_t decode_sequences,
                                                  double kv_utilization) const noexcept {
  double ms = prefill_ms(prefill_tokens);
  if (decode_sequences > 0)
    ms += decode_ms(kv_utilization);
  const double ns = std::round(ms * 1e6 / speedup_ratio_);
  // Saturate instead of overflowing for absurd inputs (tiny ratios, huge batches).
  constexpr double max_ns = 1e18;
  return std::chrono::nanoseconds{static_cast<int64_t>(std::min(ns, max_ns))};
}

} // namespace dynamo::mocker
