#include "dynamo/disagg/disagg_policy.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace dynamo::disagg {

namespace {

constexpr uint64_t never = std::numeric_limits<uint64_t>::max();

bool positive_finite(double x) noexcept {
  return std::isfinite(x) && x > 0.0;
}

/// Moves `estimate` towards `sample` by `weight`; keeps it when the result is unusable.
void blend(double& estimate, double sample, double weight) noexcept {
  const double next = (1.0 - weight) * estimate + weight * sample;
  if (positive_finite(next))
    estimate = next;
}

} // namespace

void disagg_policy_config::bind(option_set& opts, const std::string& prefix) {
  opts.add(min_remote_tokens, prefix + ".min-remote-tokens",
           "disaggregation: prefill remotely when at least this many prompt tokens are not "
           "cached locally (-1 = derive the threshold from the measured rates, 0 = always)");
  opts.add(overhead_ms, prefix + ".overhead-ms",
           "disaggregation: fixed cost of a remote prefill beyond the KV transfer, in ms");
  opts.add(bandwidth_gbps, prefix + ".bandwidth-gbps",
           "disaggregation: KV transfer bandwidth (GB/s) assumed until transfers are measured");
  opts.add(prefill_tokens_per_s, prefix + ".prefill-tokens-per-s",
           "disaggregation: prefill throughput (tokens/s) assumed until prefills are measured");
  opts.add(smoothing, prefix + ".smoothing",
           "disaggregation: weight of a new measurement in the moving averages, in (0, 1]");
}

caf::error validate(const disagg_policy_config& cfg) {
  if (cfg.min_remote_tokens < -1)
    return make_error(errc::invalid_request,
                      fmt::format("min-remote-tokens must be -1 or >= 0, got {}",
                                  cfg.min_remote_tokens));
  if (!std::isfinite(cfg.overhead_ms) || cfg.overhead_ms < 0.0)
    return make_error(errc::invalid_request,
                      fmt::format("overhead-ms must be finite and >= 0, got {}", cfg.overhead_ms));
  if (!positive_finite(cfg.bandwidth_gbps))
    return make_error(errc::invalid_request,
                      fmt::format("bandwidth-gbps must be > 0, got {}", cfg.bandwidth_gbps));
  if (!positive_finite(cfg.prefill_tokens_per_s))
    return make_error(errc::invalid_request,
                      fmt::format("prefill-tokens-per-s must be > 0, got {}",
                                  cfg.prefill_tokens_per_s));
  if (!(cfg.smoothing > 0.0 && cfg.smoothing <= 1.0))
    return make_error(errc::invalid_request,
                      fmt::format("smoothing must be in (0, 1], got {}", cfg.smoothing));
  return {};
}

disagg_policy::disagg_policy(disagg_policy_config cfg, uint64_t kv_bytes_per_token)
  : cfg_(cfg), bytes_per_token_(kv_bytes_per_token) {
  if (auto err = validate(cfg_))
    on_internal_error(fmt::format("disagg_policy built from an unvalidated config: {}",
                                  describe(err)));
  bandwidth_ = cfg_.bandwidth_gbps * 1e9;
  prefill_rate_ = cfg_.prefill_tokens_per_s;
}

bool disagg_policy::remote(uint64_t uncached_tokens) const noexcept {
  const auto threshold = threshold_tokens();
  return threshold != never && uncached_tokens >= threshold;
}

uint64_t disagg_policy::threshold_tokens() const noexcept {
  if (cfg_.min_remote_tokens >= 0)
    return static_cast<uint64_t>(cfg_.min_remote_tokens);
  // Local prefill of n tokens stalls the decode batch n/P s; a remote one costs this request
  // L + n*b/BW s. Remote wins for n > L / (1/P - b/BW), and never when 1/P <= b/BW.
  const double saved_per_token = 1.0 / prefill_rate_
                                 - static_cast<double>(bytes_per_token_) / bandwidth_;
  if (!(saved_per_token > 0.0))
    return never;
  const double break_even = (cfg_.overhead_ms / 1000.0) / saved_per_token;
  // The smallest integer n with n > break_even.
  const double first = std::floor(break_even) + 1.0;
  if (!std::isfinite(first) || first >= 18446744073709551615.0)
    return never;
  return static_cast<uint64_t>(first);
}

void disagg_policy::observe_transfer(uint64_t bytes, double seconds) noexcept {
  if (bytes == 0 || !positive_finite(seconds))
    return;
  blend(bandwidth_, static_cast<double>(bytes) / seconds, cfg_.smoothing);
}

void disagg_policy::observe_prefill(uint64_t tokens, double seconds) noexcept {
  if (tokens == 0 || !positive_finite(seconds))
    return;
  blend(prefill_rate_, static_cast<double>(tokens) / seconds, cfg_.smoothing);
}

} // namespace dynamo::disagg
