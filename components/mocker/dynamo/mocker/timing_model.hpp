// Simulated step durations: the anchor system's published fits of prefill and decode latency,
// in milliseconds, scaled by the speedup ratio.
#pragma once

#include <chrono>
#include <cstdint>

namespace dynamo::mocker {

/// Prefill latency for `tokens` uncached prompt tokens in one step, in ms:
/// 4.209989e-7*T^2 + 1.518344e-2*T + 16.50142 (0 for T = 0). Any thread.
double prefill_ms(uint64_t tokens) noexcept;

/// Decode latency of one step at KV utilisation `u` (clamped to [0, 1]), in ms:
/// max(1, -25.74*u^2 + 54.01*u + 5.74). Any thread.
double decode_ms(double kv_utilization) noexcept;

/// Turns a step's work into its simulated duration.
class timing_model {
public:
  /// Divides every duration by `speedup_ratio` (must be finite and > 0; validate() checks).
  explicit timing_model(double speedup_ratio) noexcept : speedup_ratio_(speedup_ratio) {}

  /// (prefill_ms(prefill_tokens) + (decode_sequences > 0 ? decode_ms(u) : 0)) / speedup: a step
  /// that mixes prefill and decode costs both phases back to back. Any thread.
  std::chrono::nanoseconds step_delay(uint64_t prefill_tokens, uint32_t decode_sequences,
                                      double kv_utilization) const noexcept;

  /// The ratio durations are divided by.
  double speedup_ratio() const noexcept { return speedup_ratio_; }

private:
  double speedup_ratio_;
};

} // namespace dynamo::mocker
