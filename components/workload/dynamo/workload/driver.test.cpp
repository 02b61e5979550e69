#include "dynamo/workload/driver.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"
#include "dynamo/workload/fake_frontend.test.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

using namespace dynamo;
using namespace dynamo::workload;
using workload_t = dynamo::workload::workload;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

using json = nlohmann::json;

/// A fake frontend that streams `max_tokens` one-token chunks `gap` apart, then the finish
/// chunk, usage (half the prompt cached) and [DONE]; it measures its own concurrency.
/// Prompts whose first token is below 10 select a failure mode instead (see answer()).
class frontend {
public:
  explicit frontend(std::chrono::milliseconds gap = 2ms)
    : gap_(gap), server_([this](const fake::received_request& req, fake::server_connection& c) {
        answer(req, c);
      }) {
  }

  std::string url() const {
    return server_.url();
  }

  int max_in_flight() const {
    return max_in_flight_.load();
  }

  /// First prompt token of each request in arrival order.
  std::vector<uint32_t> arrivals() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return arrivals_;
  }

  std::vector<fake::received_request> requests() const {
    return server_.requests();
  }

private:
  void answer(const fake::received_request& req, fake::server_connection& conn) {
    auto body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.contains("prompt") || body["prompt"].empty()) {
      conn.write(fake::error_response(400, "Bad Request", "bad body"));
      return;
    }
    auto first = body["prompt"][0].get<uint32_t>();
    auto prompt_len = static_cast<uint32_t>(body["prompt"].size());
    auto max_tokens = body.value("max_tokens", 1u);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      arrivals_.push_back(first);
    }
    switch (first) {
      case 1:
        conn.write(fake::error_response(503, "Service Unavailable", "no workers"));
        return;
      case 2:
        conn.write(fake::sse_head()
                   + fake::http_chunk("data: {\"error\":{\"message\":\"worker died\","
                                      "\"type\":\"service_unavailable\",\"param\":null,"
                                      "\"code\":\"backend_disconnected\"}}\n\n")
                   + fake::http_chunk(fake::done_event()) + fake::last_chunk());
        return;
      case 3:
        conn.write(fake::sse_head() + fake::http_chunk(fake::completion_event("x")));
        conn.reset();
        return;
      case 4:
        conn.write(fake::sse_head() + fake::http_chunk(fake::completion_event("x")));
        dynamo::testing::wait_until([this] { return server_.stopping(); }, 5000ms);
        conn.close();
        return;
      case 5:
        conn.write(fake::sse_head() + fake::http_chunk(fake::completion_event("x"))
                   + fake::last_chunk());
        return;
      default:
        break;
    }
    auto now = ++in_flight_;
    auto seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    conn.write(fake::sse_head());
    for (uint32_t i = 0; i < max_tokens && !server_.stopping(); ++i) {
      std::this_thread::sleep_for(gap_);  // pacing of the fake engine, not synchronisation
      if (!conn.write(fake::http_chunk(fake::completion_event("t")))) {
        --in_flight_;
        return;
      }
    }
    // Leave the in-flight count before the client can see the end of the response.
    --in_flight_;
    conn.write(fake::http_chunk(fake::finish_event() + fake::usage_event(prompt_len, max_tokens,
                                                                          prompt_len / 2)
                                + fake::done_event())
               + fake::last_chunk());
  }

  std::chrono::milliseconds gap_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  mutable std::mutex mtx_;
  std::vector<uint32_t> arrivals_;
  fake::fake_server server_;  // last: its threads stop before the members above go away
};

request_spec spec(uint64_t id, double at_s, uint32_t first_token, uint32_t max_tokens = 3,
                  uint64_t session = 0, uint32_t turn = 0) {
  request_spec r;
  r.id = id;
  r.at_s = at_s;
  r.session = session;
  r.turn = turn;
  r.prompt = {first_token, 101, 102, 103};
  r.max_tokens = max_tokens;
  return r;
}

std::unique_ptr<driver> make_driver(const std::string& url, uint32_t concurrency = 0,
                                    uint32_t max_connections = 16) {
  driver_config cfg;
  cfg.url = url;
  cfg.model = "m";
  cfg.concurrency = concurrency;
  cfg.max_connections = max_connections;
  cfg.timeout_s = 5.0;
  cfg.progress = progress_mode::never;
  auto d = driver::make(std::move(cfg));
  EXPECT_TRUE(d) << describe(d.error());
  return std::move(*d);
}

} // namespace

TEST(driver, body_carries_the_prompt_ids_and_the_streaming_options) {
  driver_config cfg;
  cfg.model = "llama \"8b\"";
  cfg.nvext_json = R"({ "annotations": ["a"] })";
  auto d = driver::make(cfg);
  ASSERT_TRUE(d) << describe(d.error());
  auto body = json::parse((*d)->completion_body(spec(0, 0.0, 42, 7)));
  EXPECT_EQ(body["model"], "llama \"8b\"");
  EXPECT_EQ(body["prompt"], json::parse("[42,101,102,103]"));
  EXPECT_EQ(body["max_tokens"], 7);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["temperature"], 0);
  EXPECT_EQ(body["nvext"]["annotations"][0], "a");
  EXPECT_EQ((*d)->config().nvext_json, R"({"annotations":["a"]})");
}

TEST(driver, bad_configs_are_rejected) {
  auto attempt = [](auto edit) {
    driver_config cfg;
    cfg.model = "m";
    edit(cfg);
    auto d = driver::make(cfg);
    return d ? errc::none : classify(d.error());
  };
  EXPECT_EQ(attempt([](driver_config& c) { c.model.clear(); }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.url = "ftp://x"; }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.nvext_json = "[1]"; }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.nvext_json = "{"; }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.speedup = 0.0; }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.timeout_s = -1.0; }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.max_connections = 0; }), errc::invalid_request);
  EXPECT_EQ(attempt([](driver_config& c) { c.endpoint = "v1"; }), errc::invalid_request);
}

TEST(driver, open_loop_follows_send_times_and_orders_session_turns) {
  frontend fe;
  workload_t w{"open",
             {spec(0, 0.0, 100), spec(1, 0.02, 200, 3, 9, 0), spec(2, 0.05, 101),
              spec(3, 0.05, 201, 3, 9, 1), spec(4, 0.1, 102), spec(5, 0.15, 103)}};
  auto d = make_driver(fe.url());
  auto run = d->run(w);
  ASSERT_TRUE(run) << describe(run.error());
  ASSERT_EQ(run->records.size(), 6u);
  EXPECT_EQ(run->workload_name, "open");
  for (const auto& r : run->records) {
    SCOPED_TRACE(r.id);
    EXPECT_TRUE(r.ok()) << r.failure << ": " << r.error;
    EXPECT_EQ(r.status, 200);
    ASSERT_TRUE(r.sent_s);
    // Sent no earlier than intended, and promptly (generous bound for sanitizer builds).
    EXPECT_GE(*r.sent_s, r.intended_s);
    EXPECT_LT(*r.sent_s - r.intended_s, 0.1);
    ASSERT_TRUE(r.first_token_s);
    EXPECT_GT(*r.ttft_s(), 0.0);
    EXPECT_EQ(r.chunks, 3u);
    EXPECT_EQ(r.itl_s.size(), 2u);
    EXPECT_TRUE(r.has_usage);
    EXPECT_EQ(r.prompt_tokens, 4u);
    EXPECT_EQ(r.completion_tokens, 3u);
    EXPECT_EQ(r.cached_tokens, 2u);
    EXPECT_GE(r.done_s, *r.last_token_s);
  }
  // Standalone requests and the first turn are due at their at_s.
  EXPECT_DOUBLE_EQ(run->records[0].intended_s, 0.0);
  EXPECT_DOUBLE_EQ(run->records[1].intended_s, 0.02);
  EXPECT_DOUBLE_EQ(run->records[2].intended_s, 0.05);
  EXPECT_DOUBLE_EQ(run->records[5].intended_s, 0.15);
  // The second turn: think time after the first turn's completion.
  const auto& t0 = run->records[1];
  const auto& t1 = run->records[3];
  EXPECT_DOUBLE_EQ(t1.intended_s, t0.done_s + 0.05);
  auto arrivals = fe.arrivals();
  auto pos = [&arrivals](uint32_t token) {
    return std::find(arrivals.begin(), arrivals.end(), token) - arrivals.begin();
  };
  EXPECT_LT(pos(200), pos(201));
  EXPECT_EQ(arrivals.size(), 6u);
  // What the server received.
  auto reqs = fe.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs[0].target, "/v1/completions");
  auto body = json::parse(reqs[0].body);
  EXPECT_EQ(body["prompt"], json::parse("[100,101,102,103]"));
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_GE(run->duration_s, 0.15);
  EXPECT_GE(run->client.connections_reused + run->client.connections_opened, 6u);
}

TEST(driver, closed_loop_bounds_concurrency_at_the_server) {
  frontend fe{3ms};
  workload_t w{"closed", {}};
  for (uint64_t i = 0; i < 12; ++i)
    w.requests.push_back(spec(i, 100.0, static_cast<uint32_t>(100 + i), 4));
  auto d = make_driver(fe.url(), 3);
  auto started = stream_clock::now();
  auto run = d->run(w);
  ASSERT_TRUE(run) << describe(run.error());
  EXPECT_LT(stream_clock::now() - started, 5s) << "at_s must be ignored in closed loop";
  EXPECT_LE(fe.max_in_flight(), 3);
  EXPECT_GE(fe.max_in_flight(), 2);
  for (const auto& r : run->records)
    EXPECT_TRUE(r.ok()) << r.id << " " << r.failure << ": " << r.error;
  // Connections are kept alive and reused: at most one per slot.
  EXPECT_LE(run->client.connections_opened, 3u);
  EXPECT_EQ(run->client.connections_reused, 12u - run->client.connections_opened);
}

TEST(driver, busy_connections_queue_requests_and_the_delay_is_recorded) {
  frontend fe{5ms};
  workload_t w{"queued", {}};
  for (uint64_t i = 0; i < 6; ++i)
    w.requests.push_back(spec(i, 0.0, static_cast<uint32_t>(100 + i), 3));
  auto d = make_driver(fe.url(), 0, 2);
  auto run = d->run(w);
  ASSERT_TRUE(run) << describe(run.error());
  EXPECT_LE(fe.max_in_flight(), 2);
  size_t queued = 0;
  for (const auto& r : run->records) {
    EXPECT_TRUE(r.ok()) << r.failure << ": " << r.error;
    EXPECT_DOUBLE_EQ(r.intended_s, 0.0);
    if (*r.queue_s() > 0.01) {
      ++queued;
      EXPECT_GT(*r.ttft_s(), *r.ttft_from_send_s());
    }
  }
  // Four requests had to wait for one of the two connections (each answer takes >= 15 ms).
  EXPECT_EQ(queued, 4u);
}

TEST(driver, failures_are_recorded_by_kind) {
  frontend fe;
  workload_t w{"errors",
             {spec(0, 0.0, 1), spec(1, 0.0, 2), spec(2, 0.0, 3), spec(3, 0.0, 4),
              spec(4, 0.0, 5), spec(5, 0.0, 100)}};
  driver_config cfg;
  cfg.url = fe.url();
  cfg.model = "m";
  cfg.timeout_s = 0.3;
  cfg.progress = progress_mode::never;
  auto d = driver::make(cfg);
  ASSERT_TRUE(d);
  auto run = (*d)->run(w);
  ASSERT_TRUE(run) << describe(run.error());
  const auto& r = run->records;
  EXPECT_EQ(r[0].failure, "http_503");
  EXPECT_EQ(r[0].status, 503);
  EXPECT_EQ(r[0].error, "no workers");
  EXPECT_EQ(r[1].failure, "stream_error");
  EXPECT_EQ(r[1].error, "worker died");
  EXPECT_EQ(r[2].failure, "disconnected");
  EXPECT_EQ(r[3].failure, "timeout");
  EXPECT_TRUE(r[3].first_token_s);
  EXPECT_EQ(r[4].failure, "protocol");
  EXPECT_THAT(r[4].error, HasSubstr("[DONE]"));
  EXPECT_TRUE(r[5].ok()) << r[5].failure << ": " << r[5].error;
}

TEST(driver, unreachable_endpoint_fails_every_request_with_connect) {
  auto port = dynamo::testing::free_port();
  auto d = make_driver(fmt::format("http://127.0.0.1:{}", port));
  workload_t w{"nobody", {spec(0, 0.0, 100), spec(1, 0.0, 101)}};
  auto run = d->run(w);
  ASSERT_TRUE(run);
  for (const auto& r : run->records) {
    EXPECT_EQ(r.failure, "connect");
    EXPECT_EQ(r.status, 0);
  }
}

TEST(driver, stop_cancels_in_flight_and_unsent_requests) {
  frontend fe{200ms};
  workload_t w{"stopped", {spec(0, 0.0, 100, 50), spec(1, 30.0, 101)}};
  auto d = make_driver(fe.url());
  std::thread stopper([&fe, drv = d.get()] {
    dynamo::testing::wait_until([&fe] { return !fe.arrivals().empty(); }, 5000ms);
    drv->stop();
  });
  auto started = stream_clock::now();
  auto run = d->run(w);
  stopper.join();
  ASSERT_TRUE(run);
  EXPECT_LT(stream_clock::now() - started, 5s);
  EXPECT_TRUE(run->stopped);
  EXPECT_EQ(run->records[0].failure, "cancelled");
  EXPECT_TRUE(run->records[0].sent_s);
  EXPECT_EQ(run->records[1].failure, "cancelled");
  EXPECT_FALSE(run->records[1].sent_s);
  // Sticky: a later run returns at once without sending anything.
  auto again = d->run(w);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->stopped);
  EXPECT_FALSE(again->records[0].sent_s);
}

TEST(driver, forced_progress_lines_are_written) {
  frontend fe;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::tmpfile(), &std::fclose};
  ASSERT_TRUE(file);
  driver_config cfg;
  cfg.url = fe.url();
  cfg.model = "m";
  cfg.progress = progress_mode::always;
  cfg.progress_file = file.get();
  auto d = driver::make(cfg);
  ASSERT_TRUE(d);
  workload_t w{"progress", {spec(0, 0.0, 100), spec(1, 0.0, 101)}};
  ASSERT_TRUE((*d)->run(w));
  std::rewind(file.get());
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file.get()));
  EXPECT_THAT(text, HasSubstr("sent 2/2 done 2 failed 0 queued 0"));
  EXPECT_THAT(text, HasSubstr("p50 TTFT"));
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage returns outside a terminal";
}

TEST(driver, progress_line_format) {
  progress_snapshot p;
  p.total = 10;
  p.sent = 4;
  p.done = 3;
  p.failed = 1;
  p.queued = 2;
  p.elapsed_s = 1.5;
  EXPECT_EQ(format_progress(p), "sent 4/10 done 3 failed 1 queued 2 | 2.0 req/s | p50 TTFT - | "
                                "1.5 s");
  p.p50_ttft_s = 0.0125;
  EXPECT_THAT(format_progress(p), HasSubstr("p50 TTFT 12.5 ms"));
}
