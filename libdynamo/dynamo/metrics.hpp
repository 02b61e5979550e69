// Metrics: a thread-safe Prometheus registry rendering the text exposition format 0.0.4.
// Look a metric up once (get_* takes a lock), keep the reference, update it lock-free.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo {

/// Label name/value pairs of one series. Order does not matter: the registry sorts by name.
using label_set = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing value. All members are thread-safe and lock-free.
class counter {
public:
  counter() = default;
  counter(const counter&) = delete;
  counter& operator=(const counter&) = delete;

  /// Adds `v`. Negative and NaN increments are ignored: counters only go up. Any thread.
  void inc(double v = 1.0) noexcept;

  /// The current value. Any thread.
  double value() const noexcept;

private:
  std::atomic<double> value_{0.0};
};

/// A value that can go up and down. All members are thread-safe and lock-free.
class gauge {
public:
  gauge() = default;
  gauge(const gauge&) = delete;
  gauge& operator=(const gauge&) = delete;

  /// Replaces the value. Any thread.
  void set(double v) noexcept;

  /// Adds `v`. Any thread.
  void inc(double v = 1.0) noexcept;

  /// Subtracts `v`. Any thread.
  void dec(double v = 1.0) noexcept;

  /// The current value. Any thread.
  double value() const noexcept;

private:
  std::atomic<double> value_{0.0};
};

/// Counts observations into buckets with upper bounds `bounds()` plus an implicit +Inf bucket.
/// An observation v lands in the first bucket whose bound satisfies v <= bound. Thread-safe;
/// observe() is lock-free.
class histogram {
public:
  /// `bounds` must be finite and strictly increasing (a trailing +Inf is dropped); otherwise
  /// on_internal_error. An empty list leaves only the +Inf bucket.
  explicit histogram(std::vector<double> bounds);
  histogram(const histogram&) = delete;
  histogram& operator=(const histogram&) = delete;

  /// Records `v`. NaN observations are ignored. Any thread.
  void observe(double v) noexcept;

  /// Number of observations so far (the sum of bucket_counts()). Any thread.
  uint64_t count() const noexcept;

  /// Sum of all observed values. Any thread.
  double sum() const noexcept;

  /// The finite upper bounds, strictly increasing; the +Inf bucket is implicit. Any thread.
  const std::vector<double>& bounds() const noexcept;

  /// Per-bucket (not cumulative) counts: bounds().size() + 1 entries, the last for +Inf.
  /// Each entry is read atomically; the set as a whole is not a snapshot. Any thread.
  std::vector<uint64_t> bucket_counts() const;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0.0};
};

/// Owns metric families and renders them. get_* and render() are thread-safe; returned
/// references stay valid for the registry's lifetime.
class metrics_registry {
public:
  metrics_registry();
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// Returns the counter `name{labels}`, creating it (and its family with `help`) on first use.
  /// Any thread. An invalid metric or label name, a duplicate or reserved label name, or a
  /// name already registered with another type -> on_internal_error.
  counter& get_counter(std::string_view name, std::string_view help, const label_set& labels = {});

  /// Returns the gauge `name{labels}`; same rules as get_counter. Any thread.
  gauge& get_gauge(std::string_view name, std::string_view help, const label_set& labels = {});

  /// Returns the histogram `name{labels}`; same rules as get_counter. All series of a family
  /// share the bounds given first; different bounds later, an invalid bound list, or the label
  /// name "le" -> on_internal_error. Any thread.
  histogram& get_histogram(std::string_view name, std::string_view help,
                           std::vector<double> bounds, const label_set& labels = {});

  /// All families sorted by name, each with # HELP and # TYPE lines and its series sorted by
  /// labels; histograms as cumulative _bucket{le=...} lines ending in +Inf, then _sum, _count.
  /// Any thread.
  std::string render() const;

private:
  enum class metric_type : uint8_t;
  struct family;

  family& family_for(std::string_view name, std::string_view help, metric_type type);

  mutable std::mutex mtx_;
  std::map<std::string, std::unique_ptr<family>, std::less<>> families_;
};

/// `count` bounds start, start*factor, start*factor^2, ... Requires start > 0, factor > 1 and
/// count >= 1; otherwise on_internal_error.
std::vector<double> exponential_buckets(double start, double factor, size_t count);

/// Bounds in seconds for latencies (TTFT, ITL, request durations): a 1-2-5 series from 1 ms to
/// 10 s, then 20, 30 and 60 s.
std::vector<double> latency_buckets_seconds();

/// True when `name` is a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool is_valid_metric_name(std::string_view name) noexcept;

/// True when `name` is a valid, non-reserved label name: [a-zA-Z_][a-zA-Z0-9_]*, not "__*".
bool is_valid_label_name(std::string_view name) noexcept;

} // namespace dynamo
