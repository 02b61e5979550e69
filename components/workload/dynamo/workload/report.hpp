// Summaries of a load run: latency percentiles, throughput, goodput at SLOs, the KV hit rate
// seen by clients and failures; rendered as a table for people and as JSON for scripts.
//
// Which records count where:
// - TTFT, TTFT from send, ITL, per-request mean ITL and E2E: successful requests only.
// - queueing: every request that was sent.
// - throughput: successful requests (and their output tokens, and their prompt tokens) per
//   second of run duration (start to last completion).
// - goodput: successful requests with TTFT <= slo.ttft and mean ITL <= slo.itl (an unset bound
//   always holds; a request without ITL samples meets the ITL bound), per second; the fraction
//   is of all requests.
// - KV hit rate: sum of usage cached_tokens / sum of usage prompt_tokens over the requests whose
//   usage chunk arrived.
//
// JSON result schema ("schema": "dynamo-load/1"); latencies are milliseconds, times of records
// are seconds since the run started:
// {
//   "schema": "dynamo-load/1",
//   "workload": {"name": str, "requests": int, "params": {str: str}},
//   "config": {"url", "endpoint", "model": str, "mode": "open_loop"|"closed_loop",
//              "concurrency": int, "speedup": num, "max_connections": int, "timeout_s": num,
//              "nvext": obj|null},
//   "slo": {"ttft_ms": num|null, "itl_ms": num|null},
//   "summary": {
//     "requests", "succeeded", "failed": int, "duration_s": num, "stopped": bool,
//     "ttft_ms", "ttft_from_send_ms", "queue_ms", "itl_ms", "itl_mean_ms", "e2e_ms":
//        {"count": int, "mean", "min", "p50", "p90", "p99", "max": num},
//     "request_throughput_rps", "output_token_throughput_tps", "input_token_throughput_tps": num,
//     "output_tokens", "input_tokens": int,
//     "goodput": {"requests": int, "rps": num, "fraction": num},
//     "kv": {"prompt_tokens": int, "cached_tokens": int, "hit_rate": num|null},
//     "failures": {kind: int}, "statuses": {"<status>": int},
//     "client": {"requests", "connections_opened", "connections_reused", "retries",
//                "bytes_received": int}
//   },
//   "records": [ {"id", "session", "turn", "prompt_len", "max_tokens": int,
//                 "intended_s": num, "sent_s", "first_token_s", "last_token_s": num|null,
//                 "done_s": num, "ttft_ms", "ttft_from_send_ms", "queue_ms": num|null,
//                 "e2e_ms": num, "itl_ms": [num], "chunks", "chunk_tokens": int,
//                 "usage": {"prompt_tokens", "completion_tokens", "cached_tokens": int}|null,
//                 "status": int, "failure": str|null, "error": str|null} ]  // only on request
// }
#pragma once

#include "dynamo/workload/driver.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::workload {

/// Service level objectives for goodput; an empty bound always holds.
struct slo_config {
  std::optional<double> ttft_s;  ///< Largest acceptable TTFT (from the intended send).
  std::optional<double> itl_s;   ///< Largest acceptable mean ITL of a request.
};

/// Statistics of a sample set; all zero when it is empty.
struct latency_stats {
  uint64_t count = 0;  ///< Samples.
  double mean = 0.0;   ///< Arithmetic mean.
  double min = 0.0;    ///< Smallest sample.
  double p50 = 0.0;    ///< Median, by percentile().
  double p90 = 0.0;    ///< 90th percentile, by percentile().
  double p99 = 0.0;    ///< 99th percentile, by percentile().
  double max = 0.0;    ///< Largest sample.
};

/// The p-th percentile (p in [0, 100]) of ascending `sorted` by linear interpolation between
/// closest ranks, as NumPy's default: rank r = p / 100 * (n - 1), result
/// x[floor r] + (x[ceil r] - x[floor r]) * (r - floor r). 0 for an empty span. Any thread.
double percentile(std::span<const double> sorted, double p) noexcept;

/// count, mean, min, p50/p90/p99 and max of `samples` (taken by value and sorted). Any thread.
latency_stats describe_samples(std::vector<double> samples);

/// The numbers of a run (see the file comment for which records count where).
struct run_summary {
  uint64_t requests = 0;                  ///< Records.
  uint64_t succeeded = 0;                 ///< Records with ok().
  uint64_t failed = 0;                    ///< Records without ok().
  double duration_s = 0.0;                ///< run_result::duration_s.
  latency_stats ttft_s;                   ///< From the intended send.
  latency_stats ttft_from_send_s;         ///< From the actual send.
  latency_stats queue_s;                  ///< Actual minus intended send.
  latency_stats itl_s;                    ///< All ITL samples pooled.
  latency_stats itl_mean_s;               ///< One sample per request with ITL samples.
  latency_stats e2e_s;                    ///< From the intended send to the end.
  uint64_t output_tokens = 0;             ///< Of successful requests.
  uint64_t input_tokens = 0;              ///< Prompt tokens sent by successful requests.
  double request_throughput = 0.0;        ///< Successful requests per second.
  double output_token_throughput = 0.0;   ///< output_tokens per second.
  double input_token_throughput = 0.0;    ///< input_tokens per second.
  uint64_t good_requests = 0;             ///< Successful requests meeting the SLOs.
  double goodput = 0.0;                   ///< good_requests per second.
  double good_fraction = 0.0;             ///< good_requests / requests (0 without requests).
  uint64_t prompt_tokens = 0;             ///< Sum of usage prompt_tokens.
  uint64_t cached_tokens = 0;             ///< Sum of usage cached_tokens.
  std::optional<double> kv_hit_rate;      ///< cached / prompt; empty when prompt_tokens is 0.
  std::map<std::string, uint64_t> failures;  ///< Failure kind -> count.
  std::map<int, uint64_t> statuses;       ///< HTTP status (0 = none) -> count.
};

/// Computes the summary of `run` under `slo`. Any thread; never fails.
run_summary summarize_run(const run_result& run, const slo_config& slo);

/// What the report should carry besides the run.
struct report_options {
  slo_config slo;                       ///< The SLOs the summary was computed with.
  bool include_records = false;         ///< Add the per-request records to the JSON.
  std::vector<std::pair<std::string, std::string>> workload_params;  ///< e.g. {"preset", "x"}.
};

/// The JSON document described in the file comment (pretty-printed). Any thread.
std::string to_json(const run_result& run, const run_summary& s, const driver_config& cfg,
                    const report_options& opts);

/// A human-readable table of the summary, several lines ending in '\n'. Any thread.
std::string format_table(const run_result& run, const run_summary& s, const driver_config& cfg,
                         const report_options& opts);

/// Writes `text` to `path` through a temporary file renamed into place. Any thread.
/// unavailable when the file cannot be written.
caf::error write_text_file(const std::string& path, std::string_view text);

} // namespace dynamo::workload
