// Conditional disaggregation: whether a decode worker prefills a prompt itself or hands it to a
// prefill worker. The threshold derives from measured transfer bandwidth and prefill throughput
// (docs/design/disagg.md has the model).
#pragma once

#include "dynamo/config.hpp"

#include <cstdint>
#include <string>

namespace dynamo::disagg {

/// Knobs of the disaggregation decision (flags "--<prefix>.*").
struct disagg_policy_config {
  /// Fixed threshold in uncached prompt tokens: prefill remotely when the uncached part is at
  /// least this long. -1 = derive it from the measured rates (the default); 0 = always remote.
  int64_t min_remote_tokens = -1;
  /// Fixed cost of a remote prefill beyond the transfer itself (round trips, scheduling), ms.
  double overhead_ms = 3.0;
  /// Prior of the transfer bandwidth (GB/s, 1e9 B/s) until transfers have been measured.
  double bandwidth_gbps = 4.0;
  /// Prior of the prefill throughput (tokens/s) until prefills have been measured.
  double prefill_tokens_per_s = 8000.0;
  /// Weight of a new measurement in the moving averages, in (0, 1].
  double smoothing = 0.2;

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Checks every field; invalid_request naming the first bad one, or an empty error.
caf::error validate(const disagg_policy_config& cfg);

/// The decision and its measured inputs. Not thread-safe (one owner).
class disagg_policy {
public:
  /// `kv_bytes_per_token`: KV bytes one prompt token adds (all layers); 0 is allowed. `cfg`
  /// must pass validate() (a config that does not is a broken invariant: on_internal_error).
  disagg_policy(disagg_policy_config cfg, uint64_t kv_bytes_per_token);

  /// True when a prompt with `uncached_tokens` not cached on the decode side should be
  /// prefilled remotely.
  bool remote(uint64_t uncached_tokens) const noexcept;

  /// The current threshold in uncached tokens (UINT64_MAX: never remote, the transfer being
  /// slower per token than prefilling).
  uint64_t threshold_tokens() const noexcept;

  /// Records a finished transfer of `bytes` (> 0) that took `seconds` (> 0, finite); other
  /// samples are ignored.
  void observe_transfer(uint64_t bytes, double seconds) noexcept;

  /// Records a prefill of `tokens` (> 0) that took `seconds` (> 0, finite); other samples are
  /// ignored.
  void observe_prefill(uint64_t tokens, double seconds) noexcept;

  /// Current estimate of the transfer bandwidth, bytes/s.
  double bandwidth_bytes_per_s() const noexcept { return bandwidth_; }
  /// Current estimate of the prefill throughput, tokens/s.
  double prefill_tokens_per_s() const noexcept { return prefill_rate_; }

private:
  disagg_policy_config cfg_;
  uint64_t bytes_per_token_;
  double bandwidth_;
  double prefill_rate_;
};

} // namespace dynamo::disagg
