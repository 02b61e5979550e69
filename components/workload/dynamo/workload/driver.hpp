// The load driver: replays a workload against an OpenAI-compatible /v1/completions endpoint
// with streaming responses and records what every request saw.
//
// Each request is sent as
//   {"model", "prompt": [token ids], "max_tokens", "ignore_eos": true, "stream": true,
//    "stream_options": {"include_usage": true}, "temperature": 0[, "nvext": {...}]}
// over a pool of kept-alive HTTP/1.1 connections served by one epoll thread (the caller's).
//
// Timing: all times are seconds since the run started (steady clock). In open loop a request
// has an intended send time from the workload; when all `max_connections` are busy it waits in
// a FIFO and is sent later (queue_s = sent_s - intended_s). TTFT and E2E are measured from the
// intended send time, so queueing at the client counts against the server as a real user would
// see it; TTFT from the actual send is recorded as well. In closed loop the intended time is
// when a slot freed up.
//
// Tokens: a chunk "carries" tokens when its choices[0].text (or delta.content) is non-empty or
// it has a non-empty choices[0].token_ids array; it carries token_ids.size() tokens when that
// array is present, else one. TTFT ends at the first such chunk. Each later such chunk that
// arrives a gap g after the previous one and carries n tokens contributes n inter-token
// latency (ITL) samples of g / n; so the mean of a request's samples is
// (last chunk - first chunk) / (tokens after the first chunk).
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/workload/http_stream.hpp"
#include "dynamo/workload/workload.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::workload {

/// When the live progress line is drawn.
enum class progress_mode : uint8_t {
  when_tty,  ///< Only when the progress file is a terminal (redrawn in place).
  always,    ///< Always; one line per update when the file is not a terminal.
  never,     ///< Never.
};

/// Settings of a driver.
struct driver_config {
  std::string url = "http://127.0.0.1:8000";    ///< Base URL of the frontend.
  std::string endpoint = "/v1/completions";     ///< Path appended to the URL's path.
  std::string model;                            ///< "model" of every request (required).
  uint32_t concurrency = 0;                     ///< 0 = open loop by at_s; N = closed loop.
  double speedup = 1.0;                         ///< Open loop: times are divided by it.
  uint32_t max_connections = 256;               ///< Requests in flight at most (>= 1).
  double timeout_s = 600.0;                     ///< Per request, from the actual send.
  std::string nvext_json;                       ///< "" or a JSON object sent as "nvext".
  progress_mode progress = progress_mode::when_tty;  ///< When to draw the progress line.
  std::FILE* progress_file = stderr;            ///< Where the progress line goes (borrowed).
  double progress_interval_s = 0.25;            ///< Minimum time between two updates.
  logger_ptr log;                               ///< Defaults to default_logger("load-driver").
};

/// Failure kinds of request_record::failure.
namespace failure_kind {
inline constexpr std::string_view timeout = "timeout";            ///< The request timeout passed.
inline constexpr std::string_view disconnected = "disconnected";  ///< Closed or reset mid-way.
inline constexpr std::string_view connect = "connect";            ///< No connection could be made.
inline constexpr std::string_view protocol = "protocol";  ///< Not HTTP, not SSE, no [DONE]...
inline constexpr std::string_view stream_error = "stream_error";  ///< An SSE {"error": ...} event.
inline constexpr std::string_view cancelled = "cancelled";  ///< The run was stopped first.
// Non-2xx answers are "http_<status>", e.g. "http_503".
} // namespace failure_kind

/// What one request saw. Times are seconds since the run started.
struct request_record {
  uint64_t id = 0;                      ///< request_spec::id.
  uint64_t session = 0;                 ///< request_spec::session.
  uint32_t turn = 0;                    ///< request_spec::turn.
  uint32_t prompt_len = 0;              ///< Prompt tokens sent.
  uint32_t max_tokens = 0;              ///< max_tokens sent.
  double intended_s = 0.0;              ///< Intended send time (0 if it never became due).
  std::optional<double> sent_s;         ///< Actual send; empty when never sent.
  std::optional<double> first_token_s;  ///< First chunk carrying tokens.
  std::optional<double> last_token_s;   ///< Last chunk carrying tokens.
  double done_s = 0.0;                  ///< End of the response, or when it failed.
  std::vector<double> itl_s;            ///< Inter-token latency samples (see the file comment).
  uint32_t chunks = 0;                  ///< Chunks that carried tokens.
  uint32_t chunk_tokens = 0;            ///< Tokens those chunks carried (by the rule above).
  bool has_usage = false;               ///< A usage chunk arrived.
  uint32_t prompt_tokens = 0;           ///< usage.prompt_tokens.
  uint32_t completion_tokens = 0;       ///< usage.completion_tokens.
  uint32_t cached_tokens = 0;           ///< usage.prompt_tokens_details.cached_tokens.
  int status = 0;                       ///< HTTP status; 0 when none arrived.
  std::string failure;                  ///< "" on success, else a failure_kind or "http_<status>".
  std::string error;                    ///< Human-readable detail of the failure.

  /// True when the request succeeded.
  bool ok() const noexcept {
    return failure.empty();
  }
  /// first_token_s - intended_s, when a token arrived.
  std::optional<double> ttft_s() const noexcept;
  /// first_token_s - sent_s, when a token arrived.
  std::optional<double> ttft_from_send_s() const noexcept;
  /// sent_s - intended_s, when sent.
  std::optional<double> queue_s() const noexcept;
  /// done_s - intended_s.
  double e2e_s() const noexcept {
    return done_s - intended_s;
  }
  /// Mean of itl_s; empty when there are no samples.
  std::optional<double> mean_itl_s() const noexcept;
  /// Output tokens: usage.completion_tokens when usage arrived, else chunk_tokens.
  uint32_t output_tokens() const noexcept {
    return has_usage ? completion_tokens : chunk_tokens;
  }
};

/// The outcome of one run.
struct run_result {
  std::string workload_name;            ///< workload::name.
  std::vector<request_record> records;  ///< One per request, in workload order.
  double duration_s = 0.0;              ///< From the start to the last completion (or stop).
  bool stopped = false;                 ///< stop() cut the run short.
  stream_client_stats client;           ///< Connection counters.
};

/// Counters shown on the progress line.
struct progress_snapshot {
  size_t total = 0;                     ///< Requests in the workload.
  size_t sent = 0;                      ///< Handed to a connection.
  size_t done = 0;                      ///< Finished, successfully or not.
  size_t failed = 0;                    ///< Finished unsuccessfully.
  size_t queued = 0;                    ///< Due but waiting for a free connection.
  double elapsed_s = 0.0;               ///< Since the run started.
  std::optional<double> p50_ttft_s;     ///< Median TTFT of the successful requests so far.
};

/// One progress line (no line end), e.g.
/// "sent 120/1000 done 100 failed 2 queued 0 | 9.8 req/s | p50 TTFT 123.4 ms | 10.2 s".
/// Any thread.
std::string format_progress(const progress_snapshot& p);

/// Replays workloads against one endpoint. run() belongs to one thread at a time.
class driver {
public:
  /// Checks `cfg` (URL, model, limits, nvext is a JSON object) and resolves the host. Any
  /// thread. invalid_request for a bad config, unavailable when the host does not resolve.
  static caf::expected<std::unique_ptr<driver>> make(driver_config cfg);

  /// Closes the kept-alive connections (run() never returns with requests in flight).
  ~driver();

  driver(const driver&) = delete;
  driver& operator=(const driver&) = delete;

  /// Sends every request of `w` as scheduled and waits for all of them. Blocking, on the
  /// calling thread. invalid_request when `w` fails workload::validate. Request failures are
  /// recorded in the result, never returned as an error.
  caf::expected<run_result> run(const workload& w);

  /// Ends a run early: unsent requests are not sent, those in flight are cancelled, and run()
  /// returns with stopped set. Sticky: a later run() returns at once. Any thread;
  /// async-signal-safe.
  void stop() noexcept;

  /// The JSON body sent for `spec`. Any thread.
  std::string completion_body(const request_spec& spec) const;

  /// The config in effect (the URL normalised, nvext re-serialised compactly).
  const driver_config& config() const noexcept {
    return cfg_;
  }

private:
  struct run_state;
  driver(driver_config cfg, std::string body_prefix, std::unique_ptr<stream_client> client);
  void dispatch(run_state& st, size_t index);
  void show_progress(run_state& st, bool final);

  driver_config cfg_;
  std::string body_prefix_;  // '{' ... up to (not including) max_tokens and prompt
  std::unique_ptr<stream_client> client_;
  std::atomic<bool> stop_{false};
};

} // namespace dynamo::workload
