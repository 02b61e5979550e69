#include "dynamo/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>
#include <thread>

namespace dynamo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(metrics, renders_exact_exposition_text_sorted_by_family_name) {
  metrics_registry reg;
  auto& requests = reg.get_counter("dynamo_requests_total", "Requests served.",
                                   {{"model", "llama"}});
  requests.inc();
  requests.inc(2);
  auto& inflight = reg.get_gauge("dynamo_inflight", "In-flight requests.");
  inflight.set(3);
  inflight.dec();
  auto& ttft = reg.get_histogram("dynamo_ttft_seconds", "Time to first token.", {0.25, 1},
                                 {{"model", "llama"}});
  for (double v : {0.125, 0.25, 0.5, 2.0})
    ttft.observe(v);
  EXPECT_EQ(reg.render(), "# HELP dynamo_inflight In-flight requests.\n"
                          "# TYPE dynamo_inflight gauge\n"
                          "dynamo_inflight 2\n"
                          "# HELP dynamo_requests_total Requests served.\n"
                          "# TYPE dynamo_requests_total counter\n"
                          "dynamo_requests_total{model=\"llama\"} 3\n"
                          "# HELP dynamo_ttft_seconds Time to first token.\n"
                          "# TYPE dynamo_ttft_seconds histogram\n"
                          "dynamo_ttft_seconds_bucket{model=\"llama\",le=\"0.25\"} 2\n"
                          "dynamo_ttft_seconds_bucket{model=\"llama\",le=\"1\"} 3\n"
                          "dynamo_ttft_seconds_bucket{model=\"llama\",le=\"+Inf\"} 4\n"
                          "dynamo_ttft_seconds_sum{model=\"llama\"} 2.875\n"
                          "dynamo_ttft_seconds_count{model=\"llama\"} 4\n");
}

TEST(metrics, renders_series_sorted_by_labels_and_labels_sorted_by_name) {
  metrics_registry reg;
  reg.get_counter("hits_total", "Hits.", {{"zone", "b"}, {"app", "x"}}).inc(1);
  reg.get_counter("hits_total", "Hits.", {{"app", "x"}, {"zone", "a"}}).inc(2);
  EXPECT_EQ(reg.render(), "# HELP hits_total Hits.\n"
                          "# TYPE hits_total counter\n"
                          "hits_total{app=\"x\",zone=\"a\"} 2\n"
                          "hits_total{app=\"x\",zone=\"b\"} 1\n");
}

TEST(metrics, escapes_label_values_and_help) {
  metrics_registry reg;
  reg.get_gauge("g", "line one\nback\\slash \"quoted\"", {{"path", "C:\\dir\n\"x\""}}).set(1);
  EXPECT_EQ(reg.render(), "# HELP g line one\\nback\\\\slash \"quoted\"\n"
                          "# TYPE g gauge\n"
                          "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(metrics, renders_special_float_values) {
  metrics_registry reg;
  reg.get_gauge("a", "A.").set(std::numeric_limits<double>::infinity());
  reg.get_gauge("b", "B.").set(-std::numeric_limits<double>::infinity());
  reg.get_gauge("c", "C.").set(std::numeric_limits<double>::quiet_NaN());
  reg.get_gauge("d", "D.").set(0.5);
  auto text = reg.render();
  EXPECT_THAT(text, HasSubstr("\na +Inf\n"));
  EXPECT_THAT(text, HasSubstr("\nb -Inf\n"));
  EXPECT_THAT(text, HasSubstr("\nc NaN\n"));
  EXPECT_THAT(text, HasSubstr("\nd 0.5\n"));
}

TEST(metrics, same_name_and_labels_return_the_same_object) {
  metrics_registry reg;
  auto& a = reg.get_counter("c_total", "C.", {{"x", "1"}, {"y", "2"}});
  auto& b = reg.get_counter("c_total", "C.", {{"y", "2"}, {"x", "1"}});
  auto& other = reg.get_counter("c_total", "C.", {{"x", "1"}, {"y", "3"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  auto& h1 = reg.get_histogram("h", "H.", {1, 2});
  auto& h2 = reg.get_histogram("h", "H.", {1, 2, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(&h1, &h2);
  // Creating many more series must not move the ones handed out already.
  for (int i = 0; i < 1000; ++i)
    reg.get_counter("c_total", "C.", {{"x", std::to_string(i)}});
  a.inc(5);
  EXPECT_EQ(reg.get_counter("c_total", "C.", {{"x", "1"}, {"y", "2"}}).value(), 5);
}

TEST(metrics, concurrent_increments_from_eight_threads_sum_exactly) {
  metrics_registry reg;
  constexpr int threads = 8;
  constexpr int per_thread = 20000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&reg] {
      auto& c = reg.get_counter("ops_total", "Ops.");
      auto& g = reg.get_gauge("level", "Level.");
      auto& h = reg.get_histogram("lat", "Lat.", {1.0});
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        g.inc(2);
        g.dec();
        h.observe(i % 2 == 0 ? 0.5 : 1.5);
      }
    });
  for (auto& w : workers)
    w.join();
  constexpr double total = double{threads} * per_thread;
  EXPECT_EQ(reg.get_counter("ops_total", "Ops.").value(), total);
  EXPECT_EQ(reg.get_gauge("level", "Level.").value(), total);
  auto& h = reg.get_histogram("lat", "Lat.", {1.0});
  EXPECT_EQ(h.count(), static_cast<uint64_t>(total));
  const auto half = static_cast<uint64_t>(total / 2);
  EXPECT_THAT(h.bucket_counts(), ElementsAre(half, half));
  EXPECT_EQ(h.sum(), total / 2 * 0.5 + total / 2 * 1.5);
}

TEST(metrics, histogram_places_values_with_le_semantics) {
  histogram h{{1, 2, 5}};
  for (double v : {-3.0, 0.0, 1.0, 1.0000001, 2.0, 4.9, 5.0, 5.1, 1e300})
    h.observe(v);
  h.observe(std::numeric_limits<double>::quiet_NaN()); // ignored
  EXPECT_THAT(h.bucket_counts(), ElementsAre(3, 2, 2, 2));
  EXPECT_EQ(h.count(), 9u);
  EXPECT_THAT(h.bounds(), ElementsAre(1, 2, 5));
}

TEST(metrics, histogram_without_bounds_has_only_the_inf_bucket) {
  metrics_registry reg;
  reg.get_histogram("only_inf", "Only +Inf.", {}).observe(7);
  EXPECT_EQ(reg.render(), "# HELP only_inf Only +Inf.\n"
                          "# TYPE only_inf histogram\n"
                          "only_inf_bucket{le=\"+Inf\"} 1\n"
                          "only_inf_sum 7\n"
                          "only_inf_count 1\n");
}

TEST(metrics, counter_ignores_negative_and_nan_increments) {
  counter c;
  c.inc(2.5);
  c.inc(-1);
  c.inc(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(c.value(), 2.5);
}

TEST(metrics, validates_names) {
  EXPECT_TRUE(is_valid_metric_name("dynamo:requests_total"));
  EXPECT_TRUE(is_valid_metric_name("_x9"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_FALSE(is_valid_metric_name("9x"));
  EXPECT_FALSE(is_valid_metric_name("a-b"));
  EXPECT_FALSE(is_valid_metric_name("a b"));
  EXPECT_TRUE(is_valid_label_name("model_name"));
  EXPECT_FALSE(is_valid_label_name("a:b"));
  EXPECT_FALSE(is_valid_label_name("__reserved"));
  EXPECT_FALSE(is_valid_label_name("1a"));
}

TEST(metrics, bucket_helpers) {
  EXPECT_THAT(exponential_buckets(1, 2, 4), ElementsAre(1, 2, 4, 8));
  auto lat = latency_buckets_seconds();
  ASSERT_FALSE(lat.empty());
  EXPECT_EQ(lat.front(), 0.001);
  EXPECT_EQ(lat.back(), 60);
  EXPECT_TRUE(std::is_sorted(lat.begin(), lat.end()));
  EXPECT_TRUE(std::adjacent_find(lat.begin(), lat.end()) == lat.end());
  histogram usable{lat}; // accepted as valid bounds
  EXPECT_EQ(usable.bucket_counts().size(), lat.size() + 1);
}

/// on_internal_error logs through spdlog's default logger; death tests read stderr.
void log_to_stderr() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
    "death_test", std::make_shared<spdlog::sinks::stderr_sink_st>()));
}

using metrics_death = ::testing::Test;

TEST_F(metrics_death, programming_errors_abort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
    {
      log_to_stderr();
      metrics_registry reg;
      reg.get_counter("x", "X.");
      reg.get_gauge("x", "X.");
    },
    "metric x is a counter, requested as a gauge");
  EXPECT_DEATH(
    {
      log_to_stderr();
      metrics_registry reg;
      reg.get_counter("bad-name", "X.");
    },
    "invalid metric name");
  EXPECT_DEATH(
    {
      log_to_stderr();
      metrics_registry reg;
      reg.get_counter("x", "X.", {{"a", "1"}, {"a", "2"}});
    },
    "duplicate label name");
  EXPECT_DEATH(
    {
      log_to_stderr();
      metrics_registry reg;
      reg.get_histogram("h", "H.", {1}, {{"le", "1"}});
    },
    "reserved");
  EXPECT_DEATH(
    {
      log_to_stderr();
      metrics_registry reg;
      reg.get_histogram("h", "H.", {1});
      reg.get_histogram("h", "H.", {2});
    },
    "different bounds");
  EXPECT_DEATH(
    {
      log_to_stderr();
      histogram h({2, 1});
    }, "strictly increasing");
  EXPECT_DEATH(
    {
      log_to_stderr();
      exponential_buckets(0, 2, 3);
    }, "exponential_buckets");
}

} // namespace
} // namespace dynamo
