// Token sampling for the reference engine: greedy, temperature, top-k and top-p (nucleus), with
// the random draw taken from a counter-based generator keyed by (stream seed, position) so a
// seeded request yields the same tokens whatever the batching, preemption or step timing.
#pragma once

#include "dynamo/engine/types.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace dynamo::reference {

/// Buffers reused across sample() calls so that sampling allocates nothing in steady state.
/// Owned by one caller (the engine's thread).
struct sampler_scratch {
  std::vector<uint32_t> candidates;  ///< Token ids under consideration, best first once sorted.
  std::vector<double> weights;       ///< Unnormalised probabilities, indexed by token id.
};

/// Checks sampling parameters: temperature finite and >= 0, top_p finite in (0, 1], top_k >= 0.
/// Returns invalid_request naming the first bad field, or an empty error. Any thread.
caf::error validate(const engine::sampling_params& p);

/// A uniform double in [0, 1) that depends only on (stream_seed, position): a SplitMix64-style
/// counter-based generator. Any thread; never fails.
double uniform_draw(uint64_t stream_seed, uint32_t position) noexcept;

/// Picks the next token from `logits` (one row of vocabulary size). temperature == 0 is greedy
/// (the lowest index among equal maxima); otherwise logits are divided by the temperature,
/// restricted to the top_k best (0 = all), then to the smallest best-first prefix whose
/// probability mass reaches top_p (at least one token), and one token is drawn with
/// uniform_draw(stream_seed, position). NaN logits never win; a row without a finite maximum
/// falls back to greedy. Preconditions: validate(p) passed and `logits` is non-empty
/// (on_internal_error otherwise). Any thread, given a scratch of its own.
engine::token_id sample(std::span<const float> logits, const engine::sampling_params& p,
                        uint64_t stream_seed, uint32_t position, sampler_scratch& scratch);

} // namespace dynamo::reference
