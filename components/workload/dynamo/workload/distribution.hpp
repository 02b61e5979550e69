// Seeded randomness for workload generation: a portable generator whose draws depend only on the
// seed (never on the standard library's distribution implementations), and the length / time
// distributions the generator's knobs are written in ("fixed:512", "uniform:100-2000", ...).
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::workload {

/// SplitMix64's finalizer: a bijective 64-bit mix. Any thread; never fails.
constexpr uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/// xoshiro256** seeded through SplitMix64: the same seed yields the same draws on every build.
/// Not thread-safe (one owner).
class rng {
public:
  /// A generator for `seed`; different seeds give independent-looking streams.
  explicit rng(uint64_t seed) noexcept;

  /// The next 64 random bits.
  uint64_t next() noexcept;

  /// Uniform in [0, 1) with 53 bits of precision.
  double uniform() noexcept;

  /// Uniform integer in [0, n); 0 when n is 0.
  uint64_t below(uint64_t n) noexcept;

  /// Exponentially distributed with the given rate (> 0): the gap of a Poisson process.
  double exponential(double rate) noexcept;

  /// A standard normal draw (Box-Muller).
  double normal() noexcept;

private:
  std::array<uint64_t, 4> s_;
};

/// The shapes a distribution can take.
enum class distribution_kind : uint8_t {
  fixed,      ///< Always `a`.
  uniform,    ///< Uniform in [a, b].
  normal,     ///< Normal with mean `a` and standard deviation `b`.
  lognormal,  ///< Log-normal whose mean is `a` and whose log has standard deviation `b`.
};

/// A distribution of non-negative values (token counts, seconds). Plain data; any thread.
struct distribution {
  distribution_kind kind = distribution_kind::fixed;  ///< The shape.
  double a = 0.0;  ///< fixed: the value; uniform: low end; normal/lognormal: the mean.
  double b = 0.0;  ///< uniform: high end; normal: sd; lognormal: sigma of the log.

  /// Always `value`.
  static distribution make_fixed(double value) noexcept;
  /// Uniform in [lo, hi].
  static distribution make_uniform(double lo, double hi) noexcept;
  /// Normal(mean, sd); draws are clamped where they are used.
  static distribution make_normal(double mean, double sd) noexcept;
  /// Log-normal with the given mean (of the values, not of their log) and log-sd `sigma`.
  static distribution make_lognormal(double mean, double sigma) noexcept;

  /// One draw (may be negative for a normal distribution). Thread of the rng's owner.
  double sample(rng& gen) const noexcept;

  /// One draw clamped to >= 0 (for durations).
  double sample_non_negative(rng& gen) const noexcept;

  /// One draw rounded to the nearest integer and clamped to [lo, hi] (for token counts).
  uint32_t sample_count(rng& gen, uint32_t lo, uint32_t hi) const noexcept;

  /// The mean of the distribution before clamping.
  double mean() const noexcept;

  /// The parser's syntax, e.g. "uniform:100-2000"; parse_distribution(to_string()) == *this.
  std::string to_string() const;

  /// Memberwise equality.
  friend bool operator==(const distribution&, const distribution&) = default;
};

/// Parses "fixed:N" (or a bare number N), "uniform:LO-HI" (or "uniform:LO,HI"),
/// "normal:MEAN,SD" and "lognormal:MEAN,SIGMA". Any thread. Errors: invalid_request saying what
/// is wrong with `text` (unknown kind, missing or malformed numbers, values out of range).
caf::expected<distribution> parse_distribution(std::string_view text);

/// Checks that every parameter is finite and in range: values >= 0, lo <= hi, sd >= 0,
/// lognormal mean > 0. Any thread. Errors: invalid_request naming `field`.
caf::error validate(const distribution& d, std::string_view field);

/// Picks an index in [0, n) with fixed weights (uniform, Zipf, or given), by binary search over
/// the cumulative weights. Immutable after construction; sample() is const.
class weighted_choice {
public:
  /// Uniform over n choices (n >= 1).
  static weighted_choice uniform(size_t n);

  /// Zipf over n choices: P(i) proportional to 1 / (i + 1)^s (n >= 1, s >= 0).
  static weighted_choice zipf(size_t n, double s);

  /// Index i with probability weights[i] / sum. Weights must be finite, >= 0, with a positive
  /// sum (callers validate; a broken invariant here is an internal error).
  explicit weighted_choice(const std::vector<double>& weights);

  /// One draw in [0, size()).
  size_t sample(rng& gen) const noexcept;

  /// The number of choices.
  size_t size() const noexcept { return cumulative_.size(); }

private:
  std::vector<double> cumulative_;
};

} // namespace dynamo::workload
