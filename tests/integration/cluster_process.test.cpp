// The agg graph as separate processes (frontend, router, two workers) against a private
// nats-server, driven over HTTP: end-to-end serving, a worker SIGKILLed under load, the killed
// worker restarted, and nats-server restarted under load. The test watches the cluster the way
// an operator would: discovery records and KV events through its own NATS connection.
#include "completion_client.hpp"
#include "nats_observer.hpp"
#include "dynamo/error.hpp"
#include "dynamo/testing/child_process.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/nats_server.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifndef DYNAMO_AGG_BINARY
#  error "DYNAMO_AGG_BINARY must name the dynamo_agg executable"
#endif

namespace dynamo::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr auto lease_ttl = 1500ms;


/// The agg graph as four processes plus an observer on the same NATS server.
class cluster_process : public ::testing::Test {
protected:
  void SetUp() override {
    nats_ = std::make_unique<nats_server>();
    auto observer = observe_nats(nats_->url());
    ASSERT_TRUE(observer) << describe(observer.error());
    discovery_ = std::move(observer->discovery);
    events_ = std::move(observer->events);
    auto sub = events_->subscribe("dynamo.worker.kv_events", [this](const event_message& m) {
      auto j = json::parse(m.payload, nullptr, false);
      if (!j.is_object() || !j.contains("worker_id"))
        return;
      std::lock_guard guard{mu_};
      ++kv_batches_[j["worker_id"].get<uint64_t>()];
    });
    ASSERT_TRUE(sub) << describe(sub.error());
    http_port_ = free_port();
  }

  void TearDown() override {
    for (auto* p : all_processes())
      p->signal(SIGKILL);
    events_.reset();
    discovery_.reset();
  }

  std::vector<child_process*> all_processes() {
    std::vector<child_process*> result;
    for (auto& p : processes_)
      result.push_back(p.get());
    return result;
  }

  /// Starts one process running component `name` against the test's NATS server.
  child_process& start(const std::string& name, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--component",
                                  name,
                                  "--nats",
                                  nats_->url(),
                                  "--discovery.ttl",
                                  std::to_string(lease_ttl.count()) + "ms",
                                  "--frontend.port",
                                  std::to_string(http_port_),
                                  "--worker.engine",
                                  "mocker",
                                  "--worker.speedup-ratio",
                                  "2",
                                  "--runtime.threads",
                                  "2",
                                  // The kill tests count on round robin: half the requests in
                                  // flight are on the killed worker.
                                  "--router.policy",
                                  "round-robin",
                                  "--" + name + ".replicas",
                                  "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    processes_.push_back(std::make_unique<child_process>(DYNAMO_AGG_BINARY, args));
    return *processes_.back();
  }

  /// Instance ids of `component` currently in discovery.
  std::set<uint64_t> instances(const std::string& component) const {
    std::set<uint64_t> ids;
    for (const auto& rec : discovery_->list("dynamo/" + component + "/"))
      ids.insert(rec.instance.value);
    return ids;
  }

  /// Waits until discovery lists an instance of `component` not in `known`; returns it (0 on
  /// timeout).
  uint64_t wait_new_instance(const std::string& component, const std::set<uint64_t>& known,
                             std::chrono::milliseconds timeout = 20s) {
    uint64_t found = 0;
    wait_until(
      [&] {
        for (auto id : instances(component))
          if (!known.contains(id)) {
            found = id;
            return true;
          }
        return false;
      },
      timeout, 20ms);
    return found;
  }

  /// Waits until the frontend answers /health and lists the model.
  bool wait_serving(std::chrono::milliseconds timeout = 30s) {
    return wait_until(
      [this] {
        auto c = http_client::connect("127.0.0.1", http_port_, 1s);
        if (!c)
          return false;
        c->set_timeout(2s);
        auto res = c->request("GET", "/v1/models");
        return res && res->status == 200 && res->body.find("mock-model") != std::string::npos;
      },
      timeout, 100ms);
  }

  /// Starts two workers, the router and the frontend; records the workers' instance ids.
  void start_cluster() {
    start("worker");
    worker_a_ = wait_new_instance("worker", {});
    ASSERT_NE(worker_a_, 0u) << "worker A never registered" << logs();
    start("worker");
    worker_b_ = wait_new_instance("worker", {worker_a_});
    ASSERT_NE(worker_b_, 0u) << "worker B never registered" << logs();
    start("router");
    router_ = wait_new_instance("router", {});
    ASSERT_NE(router_, 0u) << "the router never registered" << logs();
    start("frontend");
    frontend_ = wait_new_instance("frontend", {});
    ASSERT_NE(frontend_, 0u) << "the frontend never registered" << logs();
    ASSERT_TRUE(wait_serving()) << "the frontend never served the model" << logs();
    // Ready when a completion goes through (the frontend has found the router).
    ASSERT_TRUE(wait_until(
      [this] { return stream_completion(http_port_, "warm up the cluster", 1).completed; }, 20s,
      100ms))
      << "no completion succeeded within 20 s" << logs();
  }

  /// Number of KV event batches seen from `worker`.
  int kv_batches(uint64_t worker) {
    std::lock_guard guard{mu_};
    return kv_batches_[worker];
  }

  /// Every process's log, for failure messages.
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
  uint16_t http_port_ = 0;
  uint64_t worker_a_ = 0;
  uint64_t worker_b_ = 0;
  uint64_t router_ = 0;
  uint64_t frontend_ = 0;
  std::mutex mu_;
  std::map<uint64_t, int> kv_batches_;
};

TEST_F(cluster_process, four_processes_serve_http_end_to_end) {
  ASSERT_NO_FATAL_FAILURE(start_cluster());
  for (int i = 0; i < 8; ++i) {
    auto res = stream_completion(http_port_, prompt_for(i), 6);
    ASSERT_EQ(res.status, 200) << logs();
    EXPECT_TRUE(res.completed) << "request " << i << " failed: " << res.error_type << logs();
    EXPECT_FALSE(res.text.empty());
  }
  DYNAMO_EXPECT_EVENTUALLY(kv_batches(worker_a_) > 0 && kv_batches(worker_b_) > 0, 5000ms,
                           "KV events from both workers (round robin spreads the requests)");
}

TEST_F(cluster_process, sigkilled_worker_fails_only_its_requests_and_restarted_one_rejoins) {
  ASSERT_NO_FATAL_FAILURE(start_cluster());
  auto& victim = *processes_[0]; // worker A
  // Load: 8 long streams, round robin puts 4 on each worker.
  constexpr int in_flight = 8;
  std::atomic<int> started{0};
  std::vector<outcome> results(in_flight);
  std::vector<std::jthread> clients;  // joined on every exit path
  for (int i = 0; i < in_flight; ++i)
    clients.emplace_back([this, i, &results, &started] {
      results[i] = stream_completion(http_port_, prompt_for(100 + i), 800, [&started] { ++started; });
    });
  ASSERT_TRUE(wait_until([&started] { return started.load() == in_flight; }, 20s))
    << "only " << started.load() << " of " << in_flight << " streams started" << logs();
  // Records when the victim's record disappears (watch callbacks run on a backend thread).
  using std::chrono::steady_clock;
  std::atomic<int64_t> removed_ns{0}; // steady_clock ticks since epoch; 0 = not yet
  auto watch = discovery_->watch("dynamo/worker/", [this, &removed_ns](const discovery_event& ev) {
    if (ev.type == discovery_event::kind::removed && ev.record.instance.value == worker_a_)
      removed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     steady_clock::now().time_since_epoch())
                     .count();
  });
  ASSERT_TRUE(watch) << describe(watch.error());
  auto killed_at = steady_clock::now();
  victim.signal(SIGKILL);
  // New requests right after the kill go to the surviving worker.
  int new_ok = 0;
  for (int i = 0; i < 6; ++i) {
    auto res = stream_completion(http_port_, prompt_for(200 + i), 4);
    if (res.completed)
      ++new_ok;
    else
      ADD_FAILURE() << "new request " << i << " after the kill failed: status " << res.status
                    << " " << res.error_type;
  }
  EXPECT_EQ(new_ok, 6) << logs();
  for (auto& t : clients)
    t.join();
  clients.clear();
  int failed = 0;
  for (const auto& r : results) {
    if (r.completed)
      continue;
    ++failed;
    EXPECT_FALSE(r.error_type.empty()) << "a failed request must end with an OpenAI error";
  }
  std::printf("[ report ] in-flight requests at the kill: %d, failed: %d (round robin put %d on "
              "the killed worker)\n",
              in_flight, failed, in_flight / 2);
  EXPECT_GE(failed, 1) << "the killed worker held requests";
  EXPECT_LE(failed, in_flight / 2) << "only requests on the killed worker may fail";
  // It leaves discovery within the TTL plus one heartbeat (plus scheduling slack).
  ASSERT_TRUE(wait_until([&removed_ns] { return removed_ns.load() != 0; }, 10s))
    << "the killed worker never left discovery";
  discovery_->unwatch(*watch);
  auto removed_at = steady_clock::time_point{std::chrono::nanoseconds{removed_ns.load()}};
  auto gone_after = std::chrono::duration_cast<std::chrono::milliseconds>(removed_at - killed_at);
  std::printf("[ report ] killed worker left discovery after %lld ms (ttl %lld ms)\n",
              static_cast<long long>(gone_after.count()),
              static_cast<long long>(lease_ttl.count()));
  EXPECT_LE(gone_after, lease_ttl + lease_ttl / 3 + 1500ms);
  EXPECT_FALSE(instances("worker").contains(worker_a_));
  // Restart it: a new instance joins and receives traffic.
  start("worker");
  auto rejoined = wait_new_instance("worker", {worker_a_, worker_b_});
  ASSERT_NE(rejoined, 0u) << "the restarted worker never registered" << logs();
  int served_before = kv_batches(rejoined);
  for (int i = 0; i < 8; ++i) {
    auto res = stream_completion(http_port_, prompt_for(300 + i), 4);
    EXPECT_TRUE(res.completed) << "request " << i << " after the restart: " << res.error_type;
  }
  DYNAMO_EXPECT_EVENTUALLY(kv_batches(rejoined) > served_before, 5000ms,
                           "KV events from the restarted worker (it receives traffic)");
}

TEST_F(cluster_process, nats_restart_under_load_resumes_without_ghosts) {
  ASSERT_NO_FATAL_FAILURE(start_cluster());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::jthread load{[this, &stop, &ok, &failed] {
    for (int i = 0; !stop; ++i) {
      auto res = stream_completion(http_port_, prompt_for(1000 + i), 8);
      ++(res.completed ? ok : failed);
    }
  }};
  // Stops the load on every exit path (before `load` joins).
  auto stop_load = std::shared_ptr<void>(nullptr, [&stop](void*) { stop = true; });
  ASSERT_TRUE(wait_until([&ok] { return ok.load() >= 3; }, 20s)) << logs();
  nats_->restart();
  int ok_at_restart = ok.load();
  // Traffic resumes: requests keep completing after the server came back.
  EXPECT_TRUE(wait_until([&ok, ok_at_restart] { return ok.load() >= ok_at_restart + 5; }, 20s))
    << "traffic did not resume after the nats-server restart" << logs();
  // Every component re-registered, and nothing else is listed (no ghosts), also after a TTL.
  std::set<uint64_t> workers{worker_a_, worker_b_};
  EXPECT_TRUE(wait_until([&] { return instances("worker") == workers; }, 15s))
    << "workers in discovery after the restart differ from the live ones" << logs();
  std::this_thread::sleep_for(lease_ttl * 2); // a ghost would have to survive its TTL
  EXPECT_EQ(instances("worker"), workers);
  EXPECT_EQ(instances("router"), std::set<uint64_t>{router_});
  EXPECT_EQ(instances("frontend"), std::set<uint64_t>{frontend_});
  stop = true;
  load.join();
  std::printf("[ report ] requests during the nats-server restart: %d completed, %d failed\n",
              ok.load(), failed.load());
  EXPECT_EQ(failed.load(), 0) << "the request path does not depend on NATS being up" << logs();
}

} // namespace
} // namespace dynamo::testing
