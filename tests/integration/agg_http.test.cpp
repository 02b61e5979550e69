// The agg graph served in-process and driven over real HTTP: streaming and non-streaming,
// concurrent clients, every bad-input class, 503 without workers, and a client disconnect
// mid-stream after which the worker's KV blocks are free again.
#include "agg_fixture.hpp"

#include <caf/send.hpp>

#include <atomic>
#include <thread>

namespace dynamo::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class agg_http : public ::testing::Test {
protected:
  void SetUp() override {
    serving = std::make_unique<serving_graph>(make_agg_graph());
    port = serving->wait_ready("frontend", "worker", 2);
    ASSERT_NE(port, 0);
  }
  void TearDown() override { serving.reset(); }

  std::unique_ptr<serving_graph> serving;
  uint16_t port = 0;
};

TEST_F(agg_http, completions_non_streaming) {
  auto c = connect_or_fail(port);
  auto res = call(c, "POST", "/v1/completions",
                  R"({"model":"mock-model","prompt":"Hello world","max_tokens":7})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_NE(res.header("Content-Type").find("application/json"), std::string::npos);
  auto j = json::parse(res.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "mock-model");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  // The byte-level tokenizer: one printable character per mocker token.
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().size(), 7u);
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 11);  // "Hello world" is 11 bytes
  EXPECT_EQ(j["usage"]["total_tokens"], 18);
}

TEST_F(agg_http, chat_streaming_ends_with_done_and_usage) {
  auto c = connect_or_fail(port);
  auto res = call(c, "POST", "/v1/chat/completions",
                  R"({"model":"mock-model","messages":[{"role":"user","content":"Hi"}],
                      "max_tokens":12,"stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_NE(res.header("Content-Type").find("text/event-stream"), std::string::npos);
  auto events = parse_sse_data(res.body);
  ASSERT_GE(events.size(), 3u) << res.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::optional<std::string> finish;
  std::optional<json> usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    if (j.contains("usage") && !j["usage"].is_null()) {
      usage = j["usage"];
      EXPECT_TRUE(j["choices"].empty());
      continue;
    }
    const auto& choice = j["choices"][0];
    if (i == 0) {
      EXPECT_EQ(choice["delta"]["role"], "assistant");
    }
    if (choice["delta"].contains("content"))
      text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null())
      finish = choice["finish_reason"].get<std::string>();
  }
  EXPECT_EQ(text.size(), 12u);
  EXPECT_EQ(finish, "length");
  ASSERT_TRUE(usage.has_value()) << "include_usage must add a usage chunk";
  EXPECT_EQ((*usage)["completion_tokens"], 12);
  EXPECT_GT((*usage)["prompt_tokens"].get<int>(), 2);
}

TEST_F(agg_http, streaming_without_include_usage_has_no_usage_chunk) {
  auto c = connect_or_fail(port);
  auto res = call(c, "POST", "/v1/completions",
                  R"({"model":"mock-model","prompt":"x","max_tokens":3,"stream":true})");
  ASSERT_EQ(res.status, 200);
  auto events = parse_sse_data(res.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i)
    EXPECT_FALSE(json::parse(events[i]).contains("usage")) << events[i];
}

TEST_F(agg_http, stop_string_truncates_and_reports_stop) {
  auto c = connect_or_fail(port);
  // Learn the deterministic output first, then stop on a piece of it.
  auto first = call(c, "POST", "/v1/completions",
                    R"({"model":"mock-model","prompt":"stop test","max_tokens":20,"seed":5})");
  ASSERT_EQ(first.status, 200);
  auto full = json::parse(first.body)["choices"][0]["text"].get<std::string>();
  ASSERT_EQ(full.size(), 20u);
  auto stop = full.substr(8, 2);
  auto body = json{{"model", "mock-model"}, {"prompt", "stop test"}, {"max_tokens", 20},
                   {"seed", 5}, {"stop", stop}};
  auto second = call(c, "POST", "/v1/completions", body.dump());
  ASSERT_EQ(second.status, 200) << second.body;
  auto j = json::parse(second.body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][0]["text"], full.substr(0, full.find(stop)));
}

TEST_F(agg_http, models_health_and_metrics) {
  auto c = connect_or_fail(port);
  auto models = call(c, "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  auto j = json::parse(models.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "mock-model");
  EXPECT_EQ(call(c, "GET", "/health").status, 200);
  ASSERT_EQ(call(c, "POST", "/v1/completions",
                 R"({"model":"mock-model","prompt":"count me","max_tokens":2})")
              .status,
            200);
  auto metrics = call(c, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.header("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_EQ(metric_sum(metrics.body, "dynamo_frontend_requests_total", "status=\"200\""), 1.0)
    << metrics.body;
  EXPECT_EQ(metric_sum(metrics.body, "dynamo_component_requests_total"), 1.0);
  EXPECT_EQ(metric_sum(metrics.body, "dynamo_frontend_output_tokens_total"), 2.0);
  EXPECT_NE(metrics.body.find("# TYPE dynamo_frontend_time_to_first_token_seconds histogram"),
            std::string::npos);
}

TEST_F(agg_http, concurrent_clients_all_served_and_outputs_deterministic) {
  constexpr int clients = 12;
  constexpr int per_client = 8;
  std::atomic<int> ok{0};
  std::atomic<int> mismatched{0};
  std::vector<std::thread> threads;
  // Every worker produces the same tokens for the same request, so all answers must agree.
  auto reference = [this] {
    auto c = connect_or_fail(port);
    auto r = call(c, "POST", "/v1/completions",
                  R"({"model":"mock-model","prompt":"shared prompt","max_tokens":6})");
    return json::parse(r.body)["choices"][0]["text"].get<std::string>();
  }();
  for (int t = 0; t < clients; ++t)
    threads.emplace_back([this, t, &ok, &mismatched, &reference] {
      auto c = connect_or_fail(port);  // one keep-alive connection per client
      for (int i = 0; i < per_client; ++i) {
        bool stream = (t + i) % 2 == 0;
        auto body = json{{"model", "mock-model"}, {"prompt", "shared prompt"}, {"max_tokens", 6},
                         {"stream", stream}};
        auto res = call(c, "POST", "/v1/completions", body.dump());
        if (res.status != 200)
          continue;
        std::string text;
        if (stream) {
          auto events = parse_sse_data(res.body);
          if (events.empty() || events.back() != "[DONE]")
            continue;
          for (size_t k = 0; k + 1 < events.size(); ++k)
            text += json::parse(events[k])["choices"][0]["text"].get<std::string>();
        } else {
          text = json::parse(res.body)["choices"][0]["text"].get<std::string>();
        }
        if (text != reference)
          ++mismatched;
        ++ok;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(ok.load(), clients * per_client);
  EXPECT_EQ(mismatched.load(), 0);
}

TEST_F(agg_http, bad_inputs_get_openai_errors_with_the_right_status) {
  struct bad_case {
    std::string method;
    std::string target;
    std::string body;
    int status;
    std::string param;  // "" = do not check
  };
  std::vector<bad_case> cases = {
    {"POST", "/v1/chat/completions", "{not json", 400, ""},
    {"POST", "/v1/chat/completions", "[]", 400, ""},
    {"POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})", 400, "model"},
    {"POST", "/v1/chat/completions", R"({"model":"mock-model","messages":[]})", 400, "messages"},
    {"POST", "/v1/chat/completions", R"({"model":"mock-model","messages":"hi"})", 400, "messages"},
    {"POST", "/v1/completions", R"({"model":"mock-model"})", 400, "prompt"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","max_tokens":"5"})", 400, "max_tokens"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","max_tokens":0})", 400, "max_tokens"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","temperature":3})", 400, "temperature"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","top_p":0})", 400, "top_p"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","seed":"a"})", 400, "seed"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","stop":[1]})", 400, ""},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","stream":"yes"})", 400, "stream"},
    {"POST", "/v1/completions", R"({"model":"mock-model","prompt":"x","n":2})", 400, "n"},
    {"POST", "/v1/completions", R"({"model":"no-such-model","prompt":"x"})", 404, "model"},
    {"POST", "/v1/completions", std::string(70 * 1024, 'x'), 413, ""},
    {"GET", "/v1/completions", "", 405, ""},
    {"GET", "/v2/nothing", "", 404, ""},
  };
  auto c = connect_or_fail(port);
  for (const auto& bc : cases) {
    auto res = call(c, bc.method, bc.target, bc.body);
    EXPECT_EQ(res.status, bc.status) << bc.method << " " << bc.target << " "
                                     << bc.body.substr(0, 80) << " -> " << res.body;
    auto j = json::parse(res.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "error body is not JSON: " << res.body;
    ASSERT_TRUE(j.contains("error")) << res.body;
    for (auto key : {"message", "type", "param", "code"})
      EXPECT_TRUE(j["error"].contains(key)) << key << " missing in " << res.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!bc.param.empty()) {
      EXPECT_EQ(j["error"]["param"], bc.param) << res.body;
    }
    if (res.status == 413)  // the server closes after an oversize body; reconnect
      c = connect_or_fail(port);
  }
  // The server is still healthy and other requests still work.
  c = connect_or_fail(port);
  EXPECT_EQ(call(c, "POST", "/v1/completions",
                 R"({"model":"mock-model","prompt":"still fine","max_tokens":2})")
              .status,
            200);
}

TEST_F(agg_http, no_worker_available_gives_503) {
  for (const auto& w : serving->runner().instances_of("worker"))
    caf::anon_send_exit(w.handle, caf::exit_reason::kill);
  ASSERT_TRUE(wait_until([this] { return serving->registered("worker") == 0; }, 5s))
    << "killed workers must leave discovery";
  auto c = connect_or_fail(port);
  // /v1/models lists only models with a live worker; a model seen before gets 503 (retry later),
  // never 404.
  ASSERT_TRUE(wait_until(
    [&] { return call(c, "GET", "/v1/models").body.find("mock-model") == std::string::npos; },
    5s));
  auto res = call(c, "POST", "/v1/completions", R"({"model":"mock-model","prompt":"x"})");
  EXPECT_EQ(res.status, 503) << res.body;
  EXPECT_NE(res.body.find("no worker"), std::string::npos) << res.body;
  auto unknown = call(c, "POST", "/v1/completions", R"({"model":"never-served","prompt":"x"})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(call(c, "GET", "/health").status, 200) << "the frontend itself is alive";
}

} // namespace
} // namespace dynamo::testing
