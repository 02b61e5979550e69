// Worker selection for KV-aware routing: the anchor's cost function
//   cost = overlap_weight × prefill_tokens / block_size + decode_blocks   (lower is better)
// where prefill_tokens is the worker's active prefill plus this request's uncached tokens and
// decode_blocks the blocks the worker would hold with this request (active_load's model).
//
// Tie-breaks at temperature 0, in order: lower cost (costs within a relative 1e-9 are equal),
// fewer indexed blocks (the anchor's "smallest tree": spread new prefixes to emptier caches),
// fewer active requests, then a rotating choice among the remaining ties (a counter advanced on
// every such tie), so equal workers share the traffic deterministically.
//
// Temperature T > 0: costs are normalised to [0, 1] by the (max − min) range and a candidate is
// drawn with p ∝ exp(−((cost − min) / range) / T) from the selector's seeded generator; with all
// costs equal the draw is uniform.
//
// Load valve: a worker is busy when its load exceeds any enabled busy threshold; the scheduler
// skips busy workers unless every candidate is busy.
#pragma once

#include "dynamo/kv_router/active_load.hpp"
#include "dynamo/kv_router/prefix_index.hpp"

#include <caf/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace dynamo::kv_router {

/// Per-request overrides of the router's defaults (from the OpenAI request's nvext).
struct routing_overrides {
  std::optional<double> overlap_weight;  ///< >= 0, finite.
  std::optional<double> temperature;     ///< >= 0, finite.
};

/// The selector's defaults.
struct selector_config {
  double overlap_weight = 1.0;  ///< Weight of prefill blocks in the cost (anchor default 1.0).
  double temperature = 0.0;     ///< 0 = argmin; > 0 = softmax sampling over normalised costs.
};

/// Checks that every set override is finite and >= 0. Any thread. Errors: invalid_request
/// naming the field.
caf::error validate(const routing_overrides& x);

/// Checks that both defaults are finite and >= 0. Any thread. Errors: invalid_request naming
/// the field.
caf::error validate(const selector_config& x);

/// One worker the selector may pick.
struct candidate {
  worker_key worker = 0;
  uint32_t overlap_blocks = 0;   ///< Leading prompt blocks it holds (from the index).
  uint64_t prefill_tokens = 0;   ///< Its active prefill tokens + this request's uncached tokens.
  uint64_t decode_blocks = 0;    ///< Its potential decode blocks with this request.
  uint64_t indexed_blocks = 0;   ///< Blocks the index holds for it (tie-break: smaller first).
  uint32_t active_requests = 0;  ///< Tie-break after indexed_blocks: fewer first.
};

/// cost = overlap_weight × prefill_tokens / block_size + decode_blocks (lower is better); a
/// block_size of 0 counts prefill tokens as blocks. Any thread.
double candidate_cost(const candidate& c, uint32_t block_size, double overlap_weight) noexcept;

/// Chooses among candidates (rules at the top of this file). Not thread-safe: one owner.
class worker_selector {
public:
  /// Uses `cfg` as defaults (precondition: validate(cfg) is empty, else on_internal_error) and
  /// `seed` for the softmax draws.
  worker_selector(selector_config cfg, uint64_t seed);

  /// Index of the chosen candidate in `candidates` (must be non-empty: on_internal_error
  /// otherwise). Overrides replace the defaults; an invalid override (negative, NaN, infinite)
  /// is ignored: callers validate them first and report the error.
  size_t select(std::span<const candidate> candidates, uint32_t block_size,
                const routing_overrides& overrides = {});

  /// The defaults.
  const selector_config& config() const noexcept { return cfg_; }

  /// Replaces the defaults. Errors: invalid_request (and the old defaults stay) if
  /// validate(cfg) fails.
  caf::error set_config(selector_config cfg);

private:
  /// Argmin with the documented tie-breaks.
  size_t select_min(std::span<const candidate> candidates, std::span<const double> costs);
  /// Softmax draw at temperature `t` > 0.
  size_t select_softmax(std::span<const double> costs, double t);
  /// Uniform double in [0, 1).
  double uniform();

  selector_config cfg_;
  std::mt19937_64 gen_;
  uint64_t rotation_ = 0;
  std::vector<double> costs_;    ///< Scratch, reused between calls.
  std::vector<size_t> ties_;     ///< Scratch, reused between calls.
  std::vector<double> weights_;  ///< Scratch, reused between calls.
};

/// Load-valve thresholds; 0 disables a threshold. A worker is busy when any enabled one is
/// exceeded.
struct busy_thresholds {
  double kv_usage = 0.0;         ///< decode_blocks / total_kv_blocks above this (e.g. 0.95).
  uint64_t prefill_tokens = 0;   ///< Active prefill tokens above this.
  uint32_t active_requests = 0;  ///< Active requests above this.
};

/// Checks kv_usage is finite and >= 0. Any thread. Errors: invalid_request.
caf::error validate(const busy_thresholds& x);

/// True when `load` exceeds an enabled threshold (total_kv_blocks 0 disables kv_usage). Any
/// thread.
bool is_busy(const load_snapshot& load, uint64_t total_kv_blocks,
             const busy_thresholds& t) noexcept;

} // namespace dynamo::kv_router
