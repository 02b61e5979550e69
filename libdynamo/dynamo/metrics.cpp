#include "dynamo/metrics.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dynamo {

// -- counter / gauge ------------------------------------------------------------------------

void counter::inc(double v) noexcept {
  if (!(v >= 0.0)) // also rejects NaN
    return;
  value_.fetch_add(v, std::memory_order_relaxed);
}

double counter::value() const noexcept {
  return value_.load(std::memory_order_relaxed);
}

void gauge::set(double v) noexcept {
  value_.store(v, std::memory_order_relaxed);
}

void gauge::inc(double v) noexcept {
  value_.fetch_add(v, std::memory_order_relaxed);
}

void gauge::dec(double v) noexcept {
  value_.fetch_sub(v, std::memory_order_relaxed);
}

double gauge::value() const noexcept {
  return value_.load(std::memory_order_relaxed);
}

// -- histogram ------------------------------------------------------------------------------

namespace {

std::vector<double> checked_bounds(std::vector<double> bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0)
    bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]))
      on_internal_error("histogram bounds must be finite");
    if (i > 0 && !(bounds[i - 1] < bounds[i]))
      on_internal_error("histogram bounds must be strictly increasing");
  }
  return bounds;
}

} // namespace

histogram::histogram(std::vector<double> bounds)
  : bounds_(checked_bounds(std::move(bounds))),
    buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  // make_unique value-initialises the array, so every bucket starts at zero.
}

void histogram::observe(double v) noexcept {
  if (std::isnan(v))
    return;
  auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v)
                               - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t histogram::count() const noexcept {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i)
    total += buckets_[i].load(std::memory_order_relaxed);
  return total;
}

double histogram::sum() const noexcept {
  return sum_.load(std::memory_order_relaxed);
}

const std::vector<double>& histogram::bounds() const noexcept {
  return bounds_;
}

std::vector<uint64_t> histogram::bucket_counts() const {
  std::vector<uint64_t> result(bounds_.size() + 1);
  for (size_t i = 0; i < result.size(); ++i)
    result[i] = buckets_[i].load(std::memory_order_relaxed);
  return result;
}

// -- name validation ------------------------------------------------------------------------

namespace {

bool is_letter_or_underscore(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

} // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || !(is_letter_or_underscore(name[0]) || name[0] == ':'))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_letter_or_underscore(c) || is_digit(c) || c == ':'; });
}

bool is_valid_label_name(std::string_view name) noexcept {
  if (name.empty() || !is_letter_or_underscore(name[0]) || name.starts_with("__"))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_letter_or_underscore(c) || is_digit(c); });
}

// -- registry -------------------------------------------------------------------------------

enum class metrics_registry::metric_type : uint8_t { counter, gauge, histogram };

struct metrics_registry::family {
  static std::string_view name_of(metric_type x) noexcept {
    switch (x) {
      case metric_type::counter:
        return "counter";
      case metric_type::gauge:
        return "gauge";
      default:
        return "histogram";
    }
  }

  metric_type type;
  std::string help;
  std::vector<double> bounds; // histograms only
  std::map<label_set, std::unique_ptr<counter>> counters;
  std::map<label_set, std::unique_ptr<gauge>> gauges;
  std::map<label_set, std::unique_ptr<histogram>> histograms;
};

namespace {

/// Validates labels and sorts them by name so that the order of the caller's list is irrelevant.
label_set normalized(std::string_view metric, const label_set& labels, bool is_histogram) {
  label_set result = labels;
  std::sort(result.begin(), result.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (size_t i = 0; i < result.size(); ++i) {
    const auto& name = result[i].first;
    if (!is_valid_label_name(name))
      on_internal_error(fmt::format("metric {}: invalid label name '{}'", metric, name));
    if (is_histogram && name == "le")
      on_internal_error(fmt::format("metric {}: label name 'le' is reserved for buckets", metric));
    if (i > 0 && result[i - 1].first == name)
      on_internal_error(fmt::format("metric {}: duplicate label name '{}'", metric, name));
  }
  return result;
}

void append_escaped(std::string& out, std::string_view text, bool escape_quotes) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += escape_quotes ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v))
    out += "NaN";
  else if (std::isinf(v))
    out += v > 0 ? "+Inf" : "-Inf";
  else
    fmt::format_to(std::back_inserter(out), "{}", v);
}

void append_value(std::string& out, uint64_t v) {
  fmt::format_to(std::back_inserter(out), "{}", v);
}

/// Appends `{a="x",b="y"}` (plus an optional trailing le label); nothing for no labels at all.
void append_labels(std::string& out, const label_set& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr)
    return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (le != nullptr) {
    if (!first)
      out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

template <class Value>
void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const label_set& labels, Value value, const std::string* le = nullptr) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void append_histogram(std::string& out, std::string_view name, const label_set& labels,
                      const histogram& h) {
  auto counts = h.bucket_counts();
  const auto& bounds = h.bounds();
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    le.clear();
    if (i < bounds.size())
      append_value(le, bounds[i]);
    else
      le = "+Inf";
    append_sample(out, name, "_bucket", labels, cumulative, &le);
  }
  append_sample(out, name, "_sum", labels, h.sum());
  append_sample(out, name, "_count", labels, cumulative);
}

} // namespace

metrics_registry::metrics_registry() = default;

metrics_registry::~metrics_registry() = default;

metrics_registry::family& metrics_registry::family_for(std::string_view name,
                                                       std::string_view help, metric_type type) {
  if (!is_valid_metric_name(name))
    on_internal_error(fmt::format("invalid metric name '{}'", name));
  auto i = families_.find(name);
  if (i == families_.end()) {
    auto f = std::make_unique<family>();
    f->type = type;
    f->help = std::string{help};
    i = families_.emplace(std::string{name}, std::move(f)).first;
  } else if (i->second->type != type) {
    on_internal_error(fmt::format("metric {} is a {}, requested as a {}", name,
                                  family::name_of(i->second->type), family::name_of(type)));
  }
  return *i->second;
}

counter& metrics_registry::get_counter(std::string_view name, std::string_view help,
                                       const label_set& labels) {
  auto key = normalized(name, labels, false);
  std::lock_guard guard{mtx_};
  auto& f = family_for(name, help, metric_type::counter);
  auto& slot = f.counters[std::move(key)];
  if (!slot)
    slot = std::make_unique<counter>();
  return *slot;
}

gauge& metrics_registry::get_gauge(std::string_view name, std::string_view help,
                                   const label_set& labels) {
  auto key = normalized(name, labels, false);
  std::lock_guard guard{mtx_};
  auto& f = family_for(name, help, metric_type::gauge);
  auto& slot = f.gauges[std::move(key)];
  if (!slot)
    slot = std::make_unique<gauge>();
  return *slot;
}

histogram& metrics_registry::get_histogram(std::string_view name, std::string_view help,
                                           std::vector<double> bounds, const label_set& labels) {
  auto key = normalized(name, labels, true);
  bounds = checked_bounds(std::move(bounds));
  std::lock_guard guard{mtx_};
  auto& f = family_for(name, help, metric_type::histogram);
  if (f.histograms.empty())
    f.bounds = bounds;
  else if (f.bounds != bounds)
    on_internal_error(fmt::format("histogram {} requested with different bounds", name));
  auto& slot = f.histograms[std::move(key)];
  if (!slot)
    slot = std::make_unique<histogram>(std::move(bounds));
  return *slot;
}

std::string metrics_registry::render() const {
  std::string out;
  std::lock_guard guard{mtx_};
  for (const auto& [name, f] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f->help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += family::name_of(f->type);
    out += '\n';
    for (const auto& [labels, c] : f->counters)
      append_sample(out, name, "", labels, c->value());
    for (const auto& [labels, g] : f->gauges)
      append_sample(out, name, "", labels, g->value());
    for (const auto& [labels, h] : f->histograms)
      append_histogram(out, name, labels, *h);
  }
  return out;
}

// -- bucket helpers -------------------------------------------------------------------------

std::vector<double> exponential_buckets(double start, double factor, size_t count) {
  if (!(start > 0.0) || !(factor > 1.0) || count == 0 || !std::isfinite(start)
      || !std::isfinite(factor))
    on_internal_error("exponential_buckets needs start > 0, factor > 1 and count >= 1");
  std::vector<double> result;
  result.reserve(count);
  for (size_t i = 0; i < count; ++i)
    result.push_back(start * std::pow(factor, static_cast<double>(i)));
  return result;
}

std::vector<double> latency_buckets_seconds() {
  return {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
          1.0,   2.0,   5.0,   10.0, 20.0, 30.0, 60.0};
}

} // namespace dynamo
