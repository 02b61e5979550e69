#include "dynamo/workload/distribution.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <optional>

namespace dynamo::workload {

namespace {

constexpr uint64_t rotl(uint64_t x, int k) noexcept {
  return (x << k) | (x >> (64 - k));
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

/// A finite number spanning all of `text`; nullopt otherwise.
std::optional<double> parse_number(std::string_view text) {
  text = trim(text);
  if (text.empty())
    return std::nullopt;
  double x = 0.0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(x))
    return std::nullopt;
  return x;
}

/// Splits "A,B" or "A-B" (a '-' that is not a leading sign or part of an exponent).
std::optional<std::pair<std::string_view, std::string_view>> split_pair(std::string_view text) {
  auto comma = text.find(',');
  if (comma != std::string_view::npos)
    return std::pair{text.substr(0, comma), text.substr(comma + 1)};
  for (size_t i = 1; i < text.size(); ++i) {
    if (text[i] == '-' && text[i - 1] != 'e' && text[i - 1] != 'E')
      return std::pair{text.substr(0, i), text.substr(i + 1)};
  }
  return std::nullopt;
}

caf::error syntax_error(std::string_view text, std::string_view why) {
  return make_error(errc::invalid_request,
                    fmt::format("bad distribution '{}': {} (expected fixed:N, uniform:LO-HI, "
                                "normal:MEAN,SD or lognormal:MEAN,SIGMA)",
                                text, why));
}

} // namespace

rng::rng(uint64_t seed) noexcept {
  uint64_t x = seed;
  for (auto& word : s_) {
    x += 0x9e3779b97f4a7c15ull;
    word = mix64(x);
  }
}

uint64_t rng::next() noexcept {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double rng::uniform() noexcept {
  return static_cast<double>(next() >> 11) * 0x1p-53;
}

uint64_t rng::below(uint64_t n) noexcept {
  if (n == 0)
    return 0;
  // Rejects the 2^64 mod n smallest values, so that every residue is equally likely.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t x = next();
    if (x >= threshold)
      return x % n;
  }
}

double rng::exponential(double rate) noexcept {
  // 1 - uniform() is in (0, 1], so the log is finite.
  return -std::log(1.0 - uniform()) / rate;
}

double rng::normal() noexcept {
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

distribution distribution::make_fixed(double value) noexcept {
  return {distribution_kind::fixed, value, 0.0};
}

distribution distribution::make_uniform(double lo, double hi) noexcept {
  return {distribution_kind::uniform, lo, hi};
}

distribution distribution::make_normal(double mean, double sd) noexcept {
  return {distribution_kind::normal, mean, sd};
}

distribution distribution::make_lognormal(double mean, double sigma) noexcept {
  return {distribution_kind::lognormal, mean, sigma};
}

double distribution::sample(rng& gen) const noexcept {
  switch (kind) {
    case distribution_kind::fixed:
      return a;
    case distribution_kind::uniform:
      return a + (b - a) * gen.uniform();
    case distribution_kind::normal:
      return a + b * gen.normal();
    case distribution_kind::lognormal: {
      const double mu = std::log(a) - b * b / 2.0;
      return std::exp(mu + b * gen.normal());
    }
  }
  return a;
}

double distribution::sample_non_negative(rng& gen) const noexcept {
  const double x = sample(gen);
  return std::isfinite(x) && x > 0.0 ? x : 0.0;
}

uint32_t distribution::sample_count(rng& gen, uint32_t lo, uint32_t hi) const noexcept {
  // Uniform draws include both ends after rounding: widen by half a unit on each side.
  double x = kind == distribution_kind::uniform
               ? (a - 0.5) + (b - a + 1.0) * gen.uniform()
               : sample(gen);
  x = std::nearbyint(x);
  if (!(x >= static_cast<double>(lo)))
    return lo;
  if (x >= static_cast<double>(hi))
    return hi;
  return static_cast<uint32_t>(x);
}

double distribution::mean() const noexcept {
  switch (kind) {
    case distribution_kind::uniform:
      return (a + b) / 2.0;
    default:
      return a;
  }
}

std::string distribution::to_string() const {
  switch (kind) {
    case distribution_kind::fixed:
      return fmt::format("fixed:{}", a);
    case distribution_kind::uniform:
      return fmt::format("uniform:{}-{}", a, b);
    case distribution_kind::normal:
      return fmt::format("normal:{},{}", a, b);
    case distribution_kind::lognormal:
      return fmt::format("lognormal:{},{}", a, b);
  }
  return "fixed:0";
}

caf::expected<distribution> parse_distribution(std::string_view text) {
  const auto body = trim(text);
  if (body.empty())
    return syntax_error(text, "it is empty");
  auto colon = body.find(':');
  if (colon == std::string_view::npos) {
    auto x = parse_number(body);
    if (!x)
      return syntax_error(text, "no kind given and not a number");
    auto d = distribution::make_fixed(*x);
    if (auto err = validate(d, text))
      return err;
    return d;
  }
  const auto kind = trim(body.substr(0, colon));
  const auto args = body.substr(colon + 1);
  distribution d;
  if (kind == "fixed") {
    auto x = parse_number(args);
    if (!x)
      return syntax_error(text, "fixed needs one finite number");
    d = distribution::make_fixed(*x);
  } else if (kind == "uniform" || kind == "normal" || kind == "lognormal") {
    auto parts = split_pair(args);
    auto x = parts ? parse_number(parts->first) : std::nullopt;
    auto y = parts ? parse_number(parts->second) : std::nullopt;
    if (!x || !y)
      return syntax_error(text, fmt::format("{} needs two finite numbers", kind));
    if (kind == "uniform")
      d = distribution::make_uniform(*x, *y);
    else if (kind == "normal")
      d = distribution::make_normal(*x, *y);
    else
      d = distribution::make_lognormal(*x, *y);
  } else {
    return syntax_error(text, fmt::format("unknown kind '{}'", kind));
  }
  if (auto err = validate(d, text))
    return err;
  return d;
}

caf::error validate(const distribution& d, std::string_view field) {
  auto bad = [field, &d](std::string_view why) {
    return make_error(errc::invalid_request,
                      fmt::format("{}: {} ({})", field, why, d.to_string()));
  };
  if (!std::isfinite(d.a) || !std::isfinite(d.b))
    return bad("parameters must be finite numbers");
  switch (d.kind) {
    case distribution_kind::fixed:
      if (d.a < 0.0)
        return bad("the value must be >= 0");
      break;
    case distribution_kind::uniform:
      if (d.a < 0.0 || d.b < d.a)
        return bad("uniform needs 0 <= LO <= HI");
      break;
    case distribution_kind::normal:
      if (d.a < 0.0 || d.b < 0.0)
        return bad("normal needs MEAN >= 0 and SD >= 0");
      break;
    case distribution_kind::lognormal:
      if (d.a <= 0.0 || d.b < 0.0 || d.b > 10.0)
        return bad("lognormal needs MEAN > 0 and 0 <= SIGMA <= 10");
      break;
    default:
      return bad("unknown distribution kind");
  }
  return {};
}

weighted_choice weighted_choice::uniform(size_t n) {
  return weighted_choice{std::vector<double>(std::max<size_t>(n, 1), 1.0)};
}

weighted_choice weighted_choice::zipf(size_t n, double s) {
  std::vector<double> weights(std::max<size_t>(n, 1));
  for (size_t i = 0; i < weights.size(); ++i)
    weights[i] = std::pow(static_cast<double>(i + 1), -s);
  return weighted_choice{weights};
}

weighted_choice::weighted_choice(const std::vector<double>& weights) {
  cumulative_.reserve(weights.size());
  double sum = 0.0;
  for (double w : weights) {
    if (!std::isfinite(w) || w < 0.0)
      on_internal_error("weighted_choice: weights must be finite and >= 0");
    sum += w;
    cumulative_.push_back(sum);
  }
  if (!(sum > 0.0) || !std::isfinite(sum))
    on_internal_error("weighted_choice: weights must have a positive finite sum");
}

size_t weighted_choice::sample(rng& gen) const noexcept {
  const double x = gen.uniform() * cumulative_.back();
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), x);
  auto index = static_cast<size_t>(it - cumulative_.begin());
  return std::min(index, cumulative_.size() - 1);
}

} // namespace dynamo::workload
