// Lifecycle behaviour of the served agg graph: a client that disconnects mid-stream frees the
// worker's KV blocks, a request past its deadline gets 504 and frees them too, and a graceful
// drain lets an in-flight request finish while refusing new connections.
#include "agg_fixture.hpp"

#include <future>
#include <thread>

namespace dynamo::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

double metric(serving_graph& s, const std::string& name, const std::string& filter = {}) {
  return metric_sum(s.rt().metrics().render(), name, filter).value_or(-1);
}

std::string long_prompt() {
  std::string p;
  for (int i = 0; i < 20; ++i)
    p += "a fairly long prompt sentence " + std::to_string(i) + ". ";
  return p;
}

TEST(agg_lifecycle, client_disconnect_mid_stream_frees_worker_blocks) {
  // speedup 1: each decode step takes milliseconds, so 4000 tokens last far longer than the test.
  serving_graph serving{make_agg_graph(1, 1.0)};
  auto port = serving.wait_ready("frontend", "worker", 1);
  ASSERT_NE(port, 0);
  auto c = connect_or_fail(port);
  auto body = json{{"model", "mock-model"}, {"prompt", long_prompt()}, {"max_tokens", 4000},
                   {"stream", true}};
  ASSERT_FALSE(c.send_request("POST", "/v1/completions", body.dump(),
                              {{"Content-Type", "application/json"}}));
  auto head = c.read_head();
  ASSERT_TRUE(head) << describe(head.error());
  ASSERT_EQ(head->status, 200);
  auto first = c.read_until("data: ");
  ASSERT_TRUE(first) << describe(first.error());
  ASSERT_TRUE(wait_until(
    [&] { return metric(serving, "dynamo_component_kv_active_blocks") > 0; }, 5s))
    << "the running request must hold KV blocks";
  c.abort();
  EXPECT_TRUE(wait_until(
    [&] { return metric(serving, "dynamo_component_kv_active_blocks") == 0; }, 5s))
    << "the worker must free the request's KV blocks after the client disconnects; now "
    << metric(serving, "dynamo_component_kv_active_blocks");
  EXPECT_TRUE(wait_until(
    [&] { return metric(serving, "dynamo_component_inflight_requests") == 0; }, 5s));
  EXPECT_EQ(metric(serving, "dynamo_frontend_disconnected_clients"), 1.0);
  EXPECT_EQ(metric(serving, "dynamo_component_cancellation_total"), 1.0);
  EXPECT_TRUE(wait_until(
    [&] { return metric(serving, "dynamo_frontend_inflight_requests") == 0; }, 5s));
  // The graph keeps serving.
  auto c2 = connect_or_fail(port);
  EXPECT_EQ(call(c2, "POST", "/v1/completions",
                 R"({"model":"mock-model","prompt":"after","max_tokens":2})")
              .status,
            200);
}

TEST(agg_lifecycle, request_past_its_deadline_gets_504_and_frees_blocks) {
  graph g{"agg"};
  actors::worker_config wc;
  wc.mocker.speedup_ratio = 1.0;
  actors::frontend_config fc;
  fc.port = 0;
  fc.request_timeout = 300ms;
  auto w = g.add<actors::mocker_worker>("worker", wc, 1);
  auto r = g.add<actors::router>("router");
  auto f = g.add<actors::frontend>("frontend", fc);
  g.connect(f, r);
  g.connect(r, w);
  serving_graph serving{g};
  auto port = serving.wait_ready("frontend", "worker", 1);
  ASSERT_NE(port, 0);
  auto c = connect_or_fail(port);
  auto res = call(c, "POST", "/v1/completions",
                  R"({"model":"mock-model","prompt":"slow","max_tokens":4000})");
  EXPECT_EQ(res.status, 504) << res.body;
  EXPECT_TRUE(wait_until(
    [&] { return metric(serving, "dynamo_component_kv_active_blocks") == 0; }, 5s));
}

TEST(agg_lifecycle, drain_finishes_in_flight_requests_and_refuses_new_ones) {
  serving_graph serving{make_agg_graph(1, 2.0)};
  auto port = serving.wait_ready("frontend", "worker", 1);
  ASSERT_NE(port, 0);
  auto in_flight = std::async(std::launch::async, [port] {
    auto c = connect_or_fail(port);
    return call(c, "POST", "/v1/completions",
                R"({"model":"mock-model","prompt":"finish me","max_tokens":60,"stream":true})");
  });
  ASSERT_TRUE(wait_until(
    [&] { return metric(serving, "dynamo_frontend_inflight_requests") == 1; }, 5s));
  EXPECT_TRUE(serving.runner().drain(10s)) << "every component must drain cleanly";
  auto res = in_flight.get();
  EXPECT_EQ(res.status, 200);
  auto events = parse_sse_data(res.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]") << "the in-flight stream must complete during the drain";
  auto late = http_client::connect("127.0.0.1", port, 500ms);
  if (late) {
    auto r2 = late->request("GET", "/health");
    EXPECT_FALSE(r2 && r2->status == 200) << "a drained frontend must not serve new requests";
  }
  EXPECT_EQ(serving.registered("worker"), 0u) << "drained workers leave discovery";
}

} // namespace
} // namespace dynamo::testing
