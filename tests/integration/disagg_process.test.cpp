// The disagg example as separate processes (frontend, router, two decode workers, one prefill
// worker) against a private nats-server, the KV moving between the worker processes over UCX:
// the text equals the aggregated graph's, the prefill worker computes the prompts, and when the
// prefill process is SIGKILLed mid-request the decode workers prefill themselves, every request
// completes with the same text and no decode worker is left holding blocks.
#include "agg_fixture.hpp"
#include "completion_client.hpp"
#include "nats_observer.hpp"

#include "dynamo/testing/child_process.hpp"
#include "dynamo/testing/nats_server.hpp"

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#ifndef DYNAMO_DISAGG_BINARY
#  error "DYNAMO_DISAGG_BINARY must name the dynamo_disagg executable"
#endif

namespace dynamo::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr auto lease_ttl = 1500ms;
constexpr int kv_bytes_per_token = 1024;

/// Mocker settings shared by the processes and the embedded aggregated reference run.
actors::worker_config mocker_config(double speedup) {
  actors::worker_config wc;
  wc.engine = "mocker";
  wc.mocker.speedup_ratio = speedup;
  wc.mocker.kv_bytes_per_token = kv_bytes_per_token;
  return wc;
}

/// The texts the aggregated graph (embedded, same mocker settings) streams for `prompts`.
std::vector<std::string> aggregated_texts(const std::vector<std::string>& prompts, int max_tokens) {
  graph g{"agg"};
  actors::frontend_config fc;
  fc.port = 0;
  auto w = g.add<actors::aggregated_worker>("worker", mocker_config(1000), 1);
  auto r = g.add<actors::router>("router");
  auto f = g.add<actors::frontend>("frontend", fc);
  g.connect(f, r);
  g.connect(r, w);
  serving_graph agg{g};
  auto port = agg.wait_ready("frontend", "worker", 1);
  std::vector<std::string> texts;
  for (const auto& p : prompts) {
    auto res = stream_completion(port, p, max_tokens);
    EXPECT_TRUE(res.completed) << res.error_type;
    texts.push_back(res.text);
  }
  return texts;
}

class disagg_process : public ::testing::Test {
protected:
  void SetUp() override {
    nats_ = std::make_unique<nats_server>();
    auto observer = observe_nats(nats_->url());
    ASSERT_TRUE(observer) << describe(observer.error());
    discovery_ = std::move(observer->discovery);
    events_ = std::move(observer->events);
    for (const char* subject : {"dynamo.decode.load", "dynamo.prefill.load"}) {
      auto sub = events_->subscribe(subject, [this](const event_message& m) {
        auto j = json::parse(m.payload, nullptr, false);
        if (!j.is_object() || !j.contains("worker_id"))
          return;
        std::lock_guard guard{mu_};
        if (m.subject == "dynamo.prefill.load") {
          prefill_load_ = j;
          if (j.value("active_requests", 0) > 0 || j.value("held_kv_blocks", 0) > 0)
            ++prefill_busy_reports_;
          return;
        }
        load_[j["worker_id"].get<uint64_t>()] = j;
      });
      ASSERT_TRUE(sub) << describe(sub.error());
    }
    http_port_ = free_port();
  }

  void TearDown() override {
    for (auto& p : processes_)
      p->signal(SIGKILL);
    events_.reset();
    discovery_.reset();
  }

  /// Starts one process running component `name` against the test's NATS server.
  child_process& start(const std::string& name, double speedup) {
    std::vector<std::string> args{"--component", name, "--nats", nats_->url(),
                                  "--discovery.ttl", std::to_string(lease_ttl.count()) + "ms",
                                  "--frontend.port", std::to_string(http_port_),
                                  "--runtime.threads", "2", "--" + name + ".replicas", "1",
                                  // the short form sets both worker roles (a shared alias)
                                  "--engine", "mocker"};
    for (std::string worker : {"prefill", "decode"})
      args.insert(args.end(), {"--" + worker + ".speedup-ratio",
                               std::to_string(speedup), "--" + worker + ".kv-bytes-per-token",
                               std::to_string(kv_bytes_per_token)});
    args.insert(args.end(), {"--decode.disagg.min-remote-tokens", "0"});
    processes_.push_back(std::make_unique<child_process>(DYNAMO_DISAGG_BINARY, args));
    return *processes_.back();
  }

  size_t instances(const std::string& component) const {
    return discovery_->list("dynamo/" + component + "/").size();
  }

  /// Starts prefill, two decode workers, the router and the frontend; waits until a completion
  /// goes through.
  void start_cluster(double speedup) {
    prefill_ = &start("prefill", speedup);
    start("decode", speedup);
    start("decode", speedup);
    ASSERT_TRUE(wait_until([this] { return instances("prefill") == 1 && instances("decode") == 2; },
                           30s, 20ms))
      << "the workers never registered" << logs();
    start("router", speedup);
    start("frontend", speedup);
    ASSERT_TRUE(wait_until([this] { return stream_completion(http_port_, "warm up", 1).completed; },
                           30s, 100ms))
      << "no completion succeeded within 30 s" << logs();
  }

  int prefill_busy_reports() {
    std::lock_guard guard{mu_};
    return prefill_busy_reports_;
  }

  /// True when the prefill worker's last load report shows no request and no held block.
  bool prefill_worker_idle() {
    std::lock_guard guard{mu_};
    return prefill_load_.is_object() && prefill_load_.value("active_requests", 1) == 0
           && prefill_load_.value("held_kv_blocks", 1) == 0
           && prefill_load_.value("active_kv_blocks", 1) == 0;
  }

  /// True when every decode worker's last load report shows no active, held or awaiting block.
  bool decode_workers_idle() {
    std::lock_guard guard{mu_};
    int idle = 0;
    for (const auto& [id, j] : load_)
      if (j.value("awaiting_kv", 1) == 0 && j.value("active_kv_blocks", 1) == 0
          && j.value("held_kv_blocks", 1) == 0)
        ++idle;
    return idle >= 2;
  }

  std::string logs() const {
    std::string out;
    for (const auto& p : processes_)
      out += p->dump();
    return out;
  }

  std::unique_ptr<nats_server> nats_;
  std::unique_ptr<discovery_plane> discovery_;
  std::unique_ptr<event_plane> events_;
  std::vector<std::unique_ptr<child_process>> processes_;
  child_process* prefill_ = nullptr;
  uint16_t http_port_ = 0;
  std::mutex mu_;
  std::map<uint64_t, json> load_;
  json prefill_load_;
  int prefill_busy_reports_ = 0;
};

TEST_F(disagg_process, five_processes_serve_the_aggregated_text_with_kv_over_ucx) {
  std::vector<std::string> prompts;
  for (int i = 0; i < 6; ++i)
    prompts.push_back(prompt_for(i, 300 + 50 * static_cast<size_t>(i)));
  auto expected = aggregated_texts(prompts, 8);
  ASSERT_NO_FATAL_FAILURE(start_cluster(1000));
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto res = stream_completion(http_port_, prompts[i], 8);
    ASSERT_TRUE(res.completed) << "request " << i << ": " << res.error_type << logs();
    EXPECT_EQ(res.text, expected[i]) << "request " << i;
  }
  EXPECT_GT(prefill_busy_reports(), 0) << "the prefill worker never reported a remote prefill";
  EXPECT_NE(prefill_->dump().find("ucx"), std::string::npos)
    << "the prefill worker's log does not name its UCX transports:\n"
    << prefill_->dump();
  DYNAMO_EXPECT_EVENTUALLY(decode_workers_idle(), 5000ms, "both decode workers idle, no blocks");
  DYNAMO_EXPECT_EVENTUALLY(prefill_worker_idle(), 5000ms, "the prefill worker idle, no blocks");
}

TEST_F(disagg_process, sigkilled_prefill_worker_mid_request_loses_no_request_and_no_block) {
  constexpr int in_flight = 6;
  std::vector<std::string> prompts;
  for (int i = 0; i < in_flight; ++i)
    prompts.push_back(prompt_for(200 + i, 3000));
  auto expected = aggregated_texts(prompts, 6);
  // Speedup 1: a 3000-token prefill takes the mocker long enough to be killed in the middle.
  ASSERT_NO_FATAL_FAILURE(start_cluster(1));
  std::vector<outcome> results(in_flight);
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < in_flight; ++i)
      clients.emplace_back(
        [this, i, &results, &prompts] { results[i] = stream_completion(http_port_, prompts[i], 6); });
    std::this_thread::sleep_for(50ms);  // the requests reach the prefill worker
    prefill_->signal(SIGKILL);
  }
  for (int i = 0; i < in_flight; ++i) {
    EXPECT_TRUE(results[i].completed) << "request " << i << ": " << results[i].error_type
                                      << logs();
    EXPECT_EQ(results[i].text, expected[static_cast<size_t>(i)]) << "request " << i;
  }
  // The kill hit requests in flight: their decode workers prefilled them locally.
  std::string decode_logs = processes_[1]->dump() + processes_[2]->dump();
  EXPECT_NE(decode_logs.find("prefilling locally"), std::string::npos)
    << "no decode worker fell back to a local prefill:\n"
    << decode_logs;
  DYNAMO_EXPECT_EVENTUALLY(decode_workers_idle(), 10000ms,
                           "both decode workers idle with no block held after the kill");
}

} // namespace
} // namespace dynamo::testing
