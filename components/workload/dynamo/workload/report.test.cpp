#include "dynamo/workload/report.hpp"

#include "dynamo/testing/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace dynamo;
using namespace dynamo::workload;
using ::testing::HasSubstr;

namespace {

request_record ok_record(uint64_t id, double intended, double sent, double first, double last,
                         double done, std::vector<double> itl, uint32_t prompt,
                         uint32_t completion, uint32_t cached) {
  request_record r;
  r.id = id;
  r.prompt_len = prompt;
  r.max_tokens = completion;
  r.intended_s = intended;
  r.sent_s = sent;
  r.first_token_s = first;
  r.last_token_s = last;
  r.done_s = done;
  r.itl_s = std::move(itl);
  r.chunks = static_cast<uint32_t>(r.itl_s.size() + 1);
  r.chunk_tokens = r.chunks;
  r.has_usage = true;
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  r.cached_tokens = cached;
  r.status = 200;
  return r;
}

request_record failed_record(uint64_t id, double intended, double done, int status,
                             std::string failure) {
  request_record r;
  r.id = id;
  r.prompt_len = 10;
  r.intended_s = intended;
  r.sent_s = intended;
  r.done_s = done;
  r.status = status;
  r.failure = std::move(failure);
  r.error = "boom";
  return r;
}

/// Dyadic times so that every derived value is exact.
run_result sample_run() {
  run_result run;
  run.workload_name = "hand-made";
  run.duration_s = 4.0;
  run.records = {
    ok_record(0, 0.0, 0.125, 0.375, 0.625, 0.75, {0.125, 0.125}, 100, 3, 50),
    ok_record(1, 1.0, 1.0, 1.25, 1.25, 1.5, {}, 100, 1, 0),
    ok_record(2, 2.0, 2.0, 2.5, 3.0, 3.0, {0.25, 0.25}, 200, 3, 150),
    failed_record(3, 3.0, 3.125, 503, "http_503"),
    failed_record(4, 3.5, 4.0, 200, "timeout"),
  };
  return run;
}

slo_config sample_slo() {
  slo_config slo;
  slo.ttft_s = 0.4;
  slo.itl_s = 0.2;
  return slo;
}

} // namespace

TEST(report, percentile_interpolates_like_numpy) {
  std::vector<double> x{1.0, 2.0, 3.0, 4.0};
  EXPECT_DOUBLE_EQ(percentile(x, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(x, 50.0), 2.5);
  EXPECT_DOUBLE_EQ(percentile(x, 90.0), 3.7);
  EXPECT_DOUBLE_EQ(percentile(x, 99.0), 3.97);
  EXPECT_DOUBLE_EQ(percentile(x, 100.0), 4.0);
  std::vector<double> one{5.0};
  EXPECT_DOUBLE_EQ(percentile(one, 99.0), 5.0);
  EXPECT_DOUBLE_EQ(percentile({}, 50.0), 0.0);
  auto d = describe_samples({3.0, 1.0, 2.0});
  EXPECT_EQ(d.count, 3u);
  EXPECT_DOUBLE_EQ(d.mean, 2.0);
  EXPECT_DOUBLE_EQ(d.min, 1.0);
  EXPECT_DOUBLE_EQ(d.p50, 2.0);
  EXPECT_DOUBLE_EQ(d.max, 3.0);
  EXPECT_EQ(describe_samples({}).count, 0u);
}

TEST(report, summary_of_hand_made_records) {
  auto s = summarize_run(sample_run(), sample_slo());
  EXPECT_EQ(s.requests, 5u);
  EXPECT_EQ(s.succeeded, 3u);
  EXPECT_EQ(s.failed, 2u);
  // TTFT from the intended send: 0.375, 0.25, 0.5.
  EXPECT_EQ(s.ttft_s.count, 3u);
  EXPECT_DOUBLE_EQ(s.ttft_s.mean, 0.375);
  EXPECT_DOUBLE_EQ(s.ttft_s.min, 0.25);
  EXPECT_DOUBLE_EQ(s.ttft_s.p50, 0.375);
  EXPECT_DOUBLE_EQ(s.ttft_s.p90, 0.475);
  EXPECT_DOUBLE_EQ(s.ttft_s.p99, 0.4975);
  EXPECT_DOUBLE_EQ(s.ttft_s.max, 0.5);
  // From the actual send: 0.25, 0.25, 0.5.
  EXPECT_DOUBLE_EQ(s.ttft_from_send_s.p50, 0.25);
  // Queueing over every sent request: 0.125 and four zeros.
  EXPECT_EQ(s.queue_s.count, 5u);
  EXPECT_DOUBLE_EQ(s.queue_s.mean, 0.025);
  EXPECT_DOUBLE_EQ(s.queue_s.max, 0.125);
  // ITL pooled: 0.125, 0.125, 0.25, 0.25; per request means 0.125 and 0.25.
  EXPECT_EQ(s.itl_s.count, 4u);
  EXPECT_DOUBLE_EQ(s.itl_s.p50, 0.1875);
  EXPECT_DOUBLE_EQ(s.itl_s.mean, 0.1875);
  EXPECT_EQ(s.itl_mean_s.count, 2u);
  EXPECT_DOUBLE_EQ(s.itl_mean_s.p50, 0.1875);
  // E2E: 0.75, 0.5, 1.0.
  EXPECT_DOUBLE_EQ(s.e2e_s.p50, 0.75);
  EXPECT_DOUBLE_EQ(s.e2e_s.max, 1.0);
  // Throughput over 4 s.
  EXPECT_DOUBLE_EQ(s.request_throughput, 0.75);
  EXPECT_EQ(s.output_tokens, 7u);
  EXPECT_DOUBLE_EQ(s.output_token_throughput, 1.75);
  EXPECT_EQ(s.input_tokens, 400u);
  EXPECT_DOUBLE_EQ(s.input_token_throughput, 100.0);
  // Goodput: record 0 (TTFT 0.375, ITL 0.125) and record 1 (no ITL samples) meet the SLOs,
  // record 2 (TTFT 0.5) does not.
  EXPECT_EQ(s.good_requests, 2u);
  EXPECT_DOUBLE_EQ(s.goodput, 0.5);
  EXPECT_DOUBLE_EQ(s.good_fraction, 0.4);
  // KV hit rate: 200 of 400 prompt tokens.
  EXPECT_EQ(s.prompt_tokens, 400u);
  EXPECT_EQ(s.cached_tokens, 200u);
  ASSERT_TRUE(s.kv_hit_rate);
  EXPECT_DOUBLE_EQ(*s.kv_hit_rate, 0.5);
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"http_503", 1}, {"timeout", 1}}));
  EXPECT_EQ(s.statuses, (std::map<int, uint64_t>{{200, 4}, {503, 1}}));
}

TEST(report, slo_bounds_are_optional) {
  auto s = summarize_run(sample_run(), slo_config{});
  EXPECT_EQ(s.good_requests, 3u);
  slo_config itl_only;
  itl_only.itl_s = 0.125;
  EXPECT_EQ(summarize_run(sample_run(), itl_only).good_requests, 2u);
  auto empty = summarize_run(run_result{}, sample_slo());
  EXPECT_EQ(empty.requests, 0u);
  EXPECT_DOUBLE_EQ(empty.good_fraction, 0.0);
  EXPECT_DOUBLE_EQ(empty.request_throughput, 0.0);
  EXPECT_FALSE(empty.kv_hit_rate);
}

TEST(report, json_carries_the_documented_keys) {
  auto run = sample_run();
  auto s = summarize_run(run, sample_slo());
  driver_config cfg;
  cfg.model = "m";
  cfg.concurrency = 4;
  cfg.nvext_json = R"({"annotations":["x"]})";
  report_options opts;
  opts.slo = sample_slo();
  opts.workload_params = {{"preset", "shared-prefix"}};
  auto doc = nlohmann::json::parse(to_json(run, s, cfg, opts));
  EXPECT_EQ(doc["schema"], "dynamo-load/1");
  EXPECT_EQ(doc["workload"]["name"], "hand-made");
  EXPECT_EQ(doc["workload"]["requests"], 5);
  EXPECT_EQ(doc["workload"]["params"]["preset"], "shared-prefix");
  for (auto key : {"url", "endpoint", "model", "mode", "concurrency", "speedup",
                   "max_connections", "timeout_s", "nvext"})
    EXPECT_TRUE(doc["config"].contains(key)) << key;
  EXPECT_EQ(doc["config"]["mode"], "closed_loop");
  EXPECT_EQ(doc["config"]["nvext"]["annotations"][0], "x");
  EXPECT_DOUBLE_EQ(doc["slo"]["ttft_ms"].get<double>(), 400.0);
  const auto& sum = doc["summary"];
  for (auto key : {"requests", "succeeded", "failed", "duration_s", "stopped", "ttft_ms",
                   "ttft_from_send_ms", "queue_ms", "itl_ms", "itl_mean_ms", "e2e_ms",
                   "request_throughput_rps", "output_token_throughput_tps",
                   "input_token_throughput_tps", "output_tokens", "input_tokens", "goodput",
                   "kv", "failures", "statuses", "client"})
    EXPECT_TRUE(sum.contains(key)) << key;
  for (auto key : {"count", "mean", "min", "p50", "p90", "p99", "max"})
    EXPECT_TRUE(sum["ttft_ms"].contains(key)) << key;
  EXPECT_DOUBLE_EQ(sum["ttft_ms"]["p50"].get<double>(), 375.0);
  EXPECT_DOUBLE_EQ(sum["goodput"]["fraction"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(sum["kv"]["hit_rate"].get<double>(), 0.5);
  EXPECT_EQ(sum["failures"]["http_503"], 1);
  EXPECT_EQ(sum["statuses"]["200"], 4);
  EXPECT_FALSE(doc.contains("records"));

  opts.include_records = true;
  doc = nlohmann::json::parse(to_json(run, s, cfg, opts));
  ASSERT_EQ(doc["records"].size(), 5u);
  const auto& r0 = doc["records"][0];
  for (auto key : {"id", "session", "turn", "prompt_len", "max_tokens", "intended_s", "sent_s",
                   "first_token_s", "last_token_s", "done_s", "ttft_ms", "ttft_from_send_ms",
                   "queue_ms", "e2e_ms", "itl_ms", "chunks", "chunk_tokens", "usage", "status",
                   "failure", "error"})
    EXPECT_TRUE(r0.contains(key)) << key;
  EXPECT_DOUBLE_EQ(r0["ttft_ms"].get<double>(), 375.0);
  EXPECT_EQ(r0["itl_ms"].size(), 2u);
  EXPECT_EQ(r0["usage"]["cached_tokens"], 50);
  EXPECT_TRUE(r0["failure"].is_null());
  EXPECT_EQ(doc["records"][3]["failure"], "http_503");
  EXPECT_TRUE(doc["records"][3]["ttft_ms"].is_null());
}

TEST(report, table_is_readable) {
  auto run = sample_run();
  auto s = summarize_run(run, sample_slo());
  driver_config cfg;
  cfg.model = "m";
  report_options opts;
  opts.slo = sample_slo();
  auto table = format_table(run, s, cfg, opts);
  EXPECT_THAT(table, HasSubstr("hand-made (5 requests; open loop, speedup 1"));
  EXPECT_THAT(table, HasSubstr("3 succeeded, 2 failed in 4.00 s"));
  EXPECT_THAT(table, HasSubstr("TTFT                   375.0     375.0     475.0     497.5"));
  EXPECT_THAT(table, HasSubstr("goodput      0.50 req/s, 40.0% of requests (TTFT <= 400 ms, "
                               "ITL <= 200 ms)"));
  EXPECT_THAT(table, HasSubstr("KV hit rate  50.0% (200 of 400 prompt tokens cached)"));
  EXPECT_THAT(table, HasSubstr("http_503 1 timeout 1"));
  EXPECT_THAT(table, HasSubstr("intended send time"));
}

TEST(report, write_text_file_replaces_the_file) {
  dynamo::testing::temp_dir dir{"report"};
  auto path = (dir.path() / "result.json").string();
  ASSERT_FALSE(write_text_file(path, "first"));
  ASSERT_FALSE(write_text_file(path, "second"));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "second");
  EXPECT_TRUE(write_text_file((dir.path() / "missing" / "x.json").string(), "x"));
}
