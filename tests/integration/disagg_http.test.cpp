// The disagg graph (frontend, router, 2 decode workers, 1 prefill worker) served in-process and
// driven over real HTTP: its text equals the aggregated graph's for the same prompts (mocker and
// reference engine, greedy), prompts go through the prefill worker when they are long and stay
// on the decode worker when short, and every KV block is free again afterwards.
#include "agg_fixture.hpp"

#include "dynamo/actors/worker/prefill_worker.hpp"
#include "dynamo/model/synthesize.hpp"

#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

namespace dynamo::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// A prompt of about `n` bytes, distinct per `i` (the byte tokenizer: one token per byte).
std::string long_prompt(int i, size_t n) {
  std::string p = "prompt " + std::to_string(i) + ":";
  while (p.size() < n)
    p += static_cast<char>('a' + (p.size() * 13 + static_cast<size_t>(i) * 5) % 26);
  return p;
}

/// The disagg example's graph with test settings and `wc` for every worker.
graph make_disagg_graph(const actors::worker_config& wc, size_t decode_replicas = 2) {
  graph g{"disagg"};
  actors::frontend_config fc;
  fc.port = 0;
  auto p = g.add<actors::prefill_worker>("prefill", wc, 1);
  auto d = g.add<actors::decode_worker>("decode", wc, decode_replicas);
  auto r = g.add<actors::router>("router");
  auto f = g.add<actors::frontend>("frontend", fc);
  g.connect(f, r);
  g.connect(r, d);
  g.connect(r, p);
  g.connect(d, p);
  return g;
}

/// The aggregated graph with `wc` for its `replicas` workers.
graph make_agg_graph_with(const actors::worker_config& wc, size_t replicas = 2) {
  graph g{"agg"};
  actors::frontend_config fc;
  fc.port = 0;
  auto w = g.add<actors::aggregated_worker>("worker", wc, replicas);
  auto r = g.add<actors::router>("router");
  auto f = g.add<actors::frontend>("frontend", fc);
  g.connect(f, r);
  g.connect(r, w);
  return g;
}

/// POSTs a non-streaming completion and returns its text (fails the test otherwise).
std::string complete(uint16_t port, const json& body) {
  auto c = connect_or_fail(port);
  c.set_timeout(60s);
  auto res = call(c, "POST", "/v1/completions", body.dump());
  EXPECT_EQ(res.status, 200) << res.body;
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("choices")) {
    ADD_FAILURE() << "no choices in " << res.body;
    return {};
  }
  return j["choices"][0]["text"].get<std::string>();
}

/// The texts of `bodies`, sent `parallel` at a time.
std::vector<std::string> complete_all(uint16_t port, const std::vector<json>& bodies,
                                      size_t parallel = 1) {
  std::vector<std::string> texts(bodies.size());
  for (size_t start = 0; start < bodies.size(); start += parallel) {
    std::vector<std::jthread> clients;
    for (size_t i = start; i < std::min(bodies.size(), start + parallel); ++i)
      clients.emplace_back([&texts, &bodies, port, i] { texts[i] = complete(port, bodies[i]); });
  }
  return texts;
}

/// /metrics of the process (every component of the embedded graph).
std::string metrics(uint16_t port) {
  auto c = connect_or_fail(port);
  return call(c, "GET", "/metrics").body;
}

double metric(uint16_t port, const std::string& name, const std::string& filter = {}) {
  return metric_sum(metrics(port), name, filter).value_or(0);
}

/// Waits until each of `decode_workers` decode workers is connected to a prefill worker.
void wait_prefill_peers(uint16_t port, size_t decode_workers) {
  ASSERT_TRUE(wait_until(
    [port, decode_workers] {
      return metric(port, "dynamo_worker_prefill_peers") >= static_cast<double>(decode_workers);
    },
    10s, 10ms))
    << "the decode workers never found the prefill worker:\n"
    << metrics(port);
}

/// Waits until no worker of `component` holds a KV block for a sequence (active 0).
void expect_no_active_blocks(uint16_t port, const std::string& component) {
  auto filter = "dynamo_component=\"" + component + "\"";
  EXPECT_TRUE(wait_until(
    [port, &filter] { return metric(port, "dynamo_component_kv_active_blocks", filter) == 0; },
    5s, 20ms))
    << component << " still holds active KV blocks:\n"
    << metrics(port);
}

actors::worker_config mocker_config() {
  actors::worker_config wc;
  wc.engine = "mocker";
  wc.mocker.speedup_ratio = 1000;
  wc.mocker.kv_bytes_per_token = 512;
  wc.mocker.kv_layers = 4;
  wc.scheduler.total_kv_blocks = 512;
  return wc;
}

TEST(disagg_http, mocker_text_equals_the_aggregated_graphs) {
  std::vector<json> bodies;
  for (int i = 0; i < 8; ++i)
    bodies.push_back({{"model", "mock-model"},
                      {"prompt", long_prompt(i, 200 + 37 * static_cast<size_t>(i))},
                      {"max_tokens", 12}});
  std::vector<std::string> agg_texts;
  {
    serving_graph agg{make_agg_graph_with(mocker_config())};
    auto port = agg.wait_ready("frontend", "worker", 2);
    ASSERT_NE(port, 0);
    agg_texts = complete_all(port, bodies);
  }
  auto wc = mocker_config();
  wc.disagg.min_remote_tokens = 0;  // every prompt through the prefill worker
  serving_graph dis{make_disagg_graph(wc)};
  auto port = dis.wait_ready("frontend", "decode", 2);
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(wait_prefill_peers(port, 2));
  auto texts = complete_all(port, bodies, 4);
  for (size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(texts[i].size(), 12u);
    EXPECT_EQ(texts[i], agg_texts[i]) << "prompt " << i;
  }
  EXPECT_GE(metric(port, "dynamo_worker_remote_prefills_total"), bodies.size());
  EXPECT_EQ(metric(port, "dynamo_worker_remote_prefill_fallbacks_total"), 0);
  EXPECT_GT(metric(port, "dynamo_worker_kv_transfer_bytes_total"), 0);
  expect_no_active_blocks(port, "decode");
  expect_no_active_blocks(port, "prefill");
}

TEST(disagg_http, short_prompts_stay_on_the_decode_worker) {
  auto wc = mocker_config();
  wc.disagg.min_remote_tokens = 1000;
  serving_graph dis{make_disagg_graph(wc, 1)};
  auto port = dis.wait_ready("frontend", "decode", 1);
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(wait_prefill_peers(port, 1));
  auto text = complete(port, {{"model", "mock-model"}, {"prompt", long_prompt(1, 100)},
                              {"max_tokens", 5}});
  EXPECT_EQ(text.size(), 5u);
  EXPECT_EQ(metric(port, "dynamo_worker_remote_prefills_total"), 0);
  EXPECT_GE(metric(port, "dynamo_worker_local_prefills_total"), 1);
  expect_no_active_blocks(port, "decode");
}

/// The tiny synthesized model, shared by the reference tests of this file.
class disagg_reference : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path{std::filesystem::temp_directory_path()
                                     / ("dynamo-disagg-ref-" + std::to_string(::getpid()))};
    std::filesystem::remove_all(*dir_);
    auto spec = model::synth_preset("tiny");
    ASSERT_TRUE(spec) << describe(spec.error());
    auto err = model::synthesize(*spec, *dir_ / "tiny-ref", nullptr);
    ASSERT_FALSE(err) << describe(err);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static actors::worker_config reference_config() {
    actors::worker_config wc;
    wc.engine = "reference";
    wc.model_path = (*dir_ / "tiny-ref").string();
    wc.reference.threads = 1;
    wc.scheduler.total_kv_blocks = 256;
    return wc;
  }

  static inline std::filesystem::path* dir_ = nullptr;
};

TEST_F(disagg_reference, greedy_tokens_equal_the_aggregated_graphs) {
  std::vector<json> bodies;
  for (int i = 0; i < 4; ++i) {
    std::vector<int> ids;
    for (int t = 0; t < 40 + 23 * i; ++t)
      ids.push_back(3 + (t * 31 + i * 7) % 250);
    bodies.push_back({{"model", "tiny-ref"}, {"prompt", ids}, {"max_tokens", 10},
                      {"temperature", 0}, {"ignore_eos", true}});
  }
  std::vector<std::string> agg_texts;
  {
    serving_graph agg{make_agg_graph_with(reference_config())};
    auto port = agg.wait_ready("frontend", "worker", 2, 60s);
    ASSERT_NE(port, 0);
    agg_texts = complete_all(port, bodies);
  }
  auto wc = reference_config();
  wc.disagg.min_remote_tokens = 0;
  serving_graph dis{make_disagg_graph(wc)};
  auto port = dis.wait_ready("frontend", "decode", 2, 60s);
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(wait_prefill_peers(port, 2));
  auto texts = complete_all(port, bodies, 2);
  for (size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_FALSE(texts[i].empty());
    EXPECT_EQ(texts[i], agg_texts[i]) << "prompt " << i;
  }
  EXPECT_GE(metric(port, "dynamo_worker_remote_prefills_total"), bodies.size());
  EXPECT_EQ(metric(port, "dynamo_worker_remote_prefill_fallbacks_total"), 0);
  expect_no_active_blocks(port, "decode");
  expect_no_active_blocks(port, "prefill");
}

} // namespace
} // namespace dynamo::testing
