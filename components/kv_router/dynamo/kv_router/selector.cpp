#include "dynamo/kv_router/selector.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dynamo::kv_router {

namespace {

/// Relative tolerance under which two costs count as equal.
constexpr double cost_epsilon = 1e-9;

bool usable(double x) noexcept {
  return std::isfinite(x) && x >= 0.0;
}

bool usable(const std::optional<double>& x) noexcept {
  return !x || usable(*x);
}

caf::error check(double x, std::string_view what) {
  if (usable(x))
    return {};
  return make_error(errc::invalid_request,
                    fmt::format("{} must be a finite number >= 0, got {}", what, x));
}

double tolerance(double x) noexcept {
  return cost_epsilon * std::max(1.0, std::abs(x));
}

} // namespace

caf::error validate(const routing_overrides& x) {
  if (x.overlap_weight)
    if (auto err = check(*x.overlap_weight, "overlap_weight"))
      return err;
  if (x.temperature)
    if (auto err = check(*x.temperature, "router temperature"))
      return err;
  return {};
}

caf::error validate(const selector_config& x) {
  if (auto err = check(x.overlap_weight, "overlap_weight"))
    return err;
  return check(x.temperature, "router temperature");
}

caf::error validate(const busy_thresholds& x) {
  return check(x.kv_usage, "busy kv_usage threshold");
}

double candidate_cost(const candidate& c, uint32_t block_size, double overlap_weight) noexcept {
  const double prefill_blocks =
    static_cast<double>(c.prefill_tokens) / static_cast<double>(std::max(block_size, 1u));
  return overlap_weight * prefill_blocks + static_cast<double>(c.decode_blocks);
}

worker_selector::worker_selector(selector_config cfg, uint64_t seed) : cfg_(cfg), gen_(seed) {
  if (auto err = validate(cfg_))
    on_internal_error(fmt::format("worker_selector: {}", describe(err)));
}

caf::error worker_selector::set_config(selector_config cfg) {
  if (auto err = validate(cfg))
    return err;
  cfg_ = cfg;
  return {};
}

double worker_selector::uniform() {
  return static_cast<double>(gen_() >> 11) * 0x1p-53;
}

size_t worker_selector::select(std::span<const candidate> candidates, uint32_t block_size,
                               const routing_overrides& overrides) {
  if (candidates.empty())
    on_internal_error("worker_selector::select: no candidate");
  const double weight = usable(overrides.overlap_weight)
                          ? overrides.overlap_weight.value_or(cfg_.overlap_weight)
                          : cfg_.overlap_weight;
  const double temperature = usable(overrides.temperature)
                               ? overrides.temperature.value_or(cfg_.temperature)
                               : cfg_.temperature;
  costs_.clear();
  for (const auto& c : candidates)
    costs_.push_back(candidate_cost(c, block_size, weight));
  if (candidates.size() == 1)
    return 0;
  if (temperature > 0.0)
    return select_softmax(costs_, temperature);
  return select_min(candidates, costs_);
}

size_t worker_selector::select_min(std::span<const candidate> candidates,
                                   std::span<const double> costs) {
  const double best = *std::min_element(costs.begin(), costs.end());
  const double limit = best + tolerance(best);
  uint64_t fewest_indexed = std::numeric_limits<uint64_t>::max();
  for (size_t i = 0; i < candidates.size(); ++i)
    if (costs[i] <= limit)
      fewest_indexed = std::min(fewest_indexed, candidates[i].indexed_blocks);
  uint32_t fewest_active = std::numeric_limits<uint32_t>::max();
  for (size_t i = 0; i < candidates.size(); ++i)
    if (costs[i] <= limit && candidates[i].indexed_blocks == fewest_indexed)
      fewest_active = std::min(fewest_active, candidates[i].active_requests);
  ties_.clear();
  for (size_t i = 0; i < candidates.size(); ++i)
    if (costs[i] <= limit && candidates[i].indexed_blocks == fewest_indexed
        && candidates[i].active_requests == fewest_active)
      ties_.push_back(i);
  if (ties_.size() == 1)
    return ties_.front();
  return ties_[rotation_++ % ties_.size()];
}

size_t worker_selector::select_softmax(std::span<const double> costs, double t) {
  const auto [lo, hi] = std::minmax_element(costs.begin(), costs.end());
  const double min = *lo;
  const double range = *hi - *lo;
  if (!(range > tolerance(*hi)) || !std::isfinite(range)) {
    const auto pick = static_cast<size_t>(uniform() * static_cast<double>(costs.size()));
    return std::min(pick, costs.size() - 1);
  }
  weights_.clear();
  double total = 0.0;
  for (auto c : costs) {
    const double w = std::exp(-((c - min) / range) / t);
    weights_.push_back(w);
    total += w;
  }
  double u = uniform() * total;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (u < weights_[i])
      return i;
    u -= weights_[i];
  }
  // Rounding left u at or past the last weight: the last positive weight takes it.
  for (size_t i = weights_.size(); i-- > 0;)
    if (weights_[i] > 0.0)
      return i;
  return static_cast<size_t>(lo - costs.begin());
}

bool is_busy(const load_snapshot& load, uint64_t total_kv_blocks,
             const busy_thresholds& t) noexcept {
  if (t.kv_usage > 0.0 && total_kv_blocks > 0
      && static_cast<double>(load.decode_blocks) / static_cast<double>(total_kv_blocks)
           > t.kv_usage)
    return true;
  if (t.prefill_tokens > 0 && load.prefill_tokens > t.prefill_tokens)
    return true;
  return t.active_requests > 0 && load.active_requests > t.active_requests;
}

} // namespace dynamo::kv_router
