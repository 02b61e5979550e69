#include "dynamo/runner.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace dynamo {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

// -- a recording fake component -----------------------------------------------------------------

/// What a fake replica saw at spawn time.
struct spawn_record {
  std::string name;
  instance_id instance;
  size_t replica = 0;
  std::vector<edge_target> targets;
  bool has_logger = false;
  runtime* rt = nullptr;
};

/// Shared, thread-safe journal of spawns, drains and exits ("spawn:a", "drain:a", "exit:a").
class journal {
public:
  void add(std::string event) {
    std::lock_guard<std::mutex> guard{mtx_};
    events_.push_back(std::move(event));
  }
  void add_spawn(spawn_record rec) {
    std::lock_guard<std::mutex> guard{mtx_};
    events_.push_back("spawn:" + rec.name);
    spawns_.push_back(std::move(rec));
  }
  /// Events starting with `prefix`, with the prefix removed, in order.
  std::vector<std::string> events(const std::string& prefix) const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<std::string> result;
    for (const auto& e : events_)
      if (e.rfind(prefix, 0) == 0)
        result.push_back(e.substr(prefix.size()));
    return result;
  }
  std::vector<spawn_record> spawns() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return spawns_;
  }

private:
  mutable std::mutex mtx_;
  std::vector<std::string> events_;
  std::vector<spawn_record> spawns_;
};

/// How a fake replica answers drain.
enum class drain_mode {
  clean,      ///< drain_report{true, 0}, then quit.
  unclean,    ///< drain_report{false, 2}, then quit.
  silent,     ///< never answers; stays alive until killed.
  no_actor,   ///< spawn returns an invalid handle.
};

struct fake_config {
  drain_mode mode = drain_mode::clean;
  std::shared_ptr<journal> log = std::make_shared<journal>();
  void bind(option_set&, const std::string&) {
  }
};

struct fake_state {
  std::shared_ptr<journal> log;
  std::string component;
  drain_mode mode = drain_mode::clean;
  caf::typed_response_promise<drain_report> held;  // kept unanswered in silent mode
  static inline const char* name = "fake_component";
};

using fake_pointer = lifecycle_actor::stateful_pointer<fake_state>;

lifecycle_actor::behavior_type fake_behavior(fake_pointer self, std::shared_ptr<journal> log,
                                             std::string name, drain_mode mode) {
  self->attach_functor([log, name](const caf::error&) { log->add("exit:" + name); });
  self->state.log = std::move(log);
  self->state.component = std::move(name);
  self->state.mode = mode;
  return {
    [self](drain_atom, uint32_t) -> caf::result<drain_report> {
      auto& st = self->state;
      st.log->add("drain:" + st.component);
      switch (st.mode) {
        case drain_mode::silent:
          st.held = self->make_response_promise<drain_report>();
          return st.held;
        case drain_mode::unclean:
          self->quit();
          return drain_report{false, 2};
        default:
          self->quit();
          return drain_report{true, 0};
      }
    },
  };
}

/// A source-and-sink component: requires and provides the "link" interface, so chains of any
/// length can be declared.
struct link_api {
  using handle_type = lifecycle_actor;
  static constexpr const char* name = "link";
};

struct fake_component {
  using config = fake_config;
  using provides = interfaces<link_api>;
  using requires_ = interfaces<link_api>;
  static constexpr std::string_view kind = "fake";
  static caf::actor spawn(component_context& ctx, const config& cfg) {
    cfg.log->add_spawn(
      spawn_record{ctx.name, ctx.instance, ctx.replica, ctx.targets, ctx.log != nullptr, ctx.rt});
    if (cfg.mode == drain_mode::no_actor)
      return {};
    auto hdl = ctx.rt->system().spawn(fake_behavior, cfg.log, ctx.name, cfg.mode);
    return caf::actor_cast<caf::actor>(hdl);
  }
};

static_assert(component_type<fake_component>);

// -- fixture ----------------------------------------------------------------------------------

runtime_config test_config(uint64_t seed = 4242) {
  runtime_config cfg;
  cfg.threads = 2;
  cfg.log_level = "warn";
  cfg.seed = seed;
  return cfg;
}

class runner_test : public ::testing::Test {
protected:
  /// Config of a replica of mode `mode` that journals into this test's journal.
  fake_config with(drain_mode mode = drain_mode::clean) {
    fake_config cfg;
    cfg.mode = mode;
    cfg.log = log_;
    return cfg;
  }

  /// The chain a -> b -> c declared in the order c, a, b (so that neither declaration order nor
  /// its reverse is the topological order).
  graph chain(drain_mode b_mode = drain_mode::clean) {
    graph g{"chain"};
    auto c = g.add<fake_component>("c", with());
    auto a = g.add<fake_component>("a", with());
    auto b = g.add<fake_component>("b", with(b_mode));
    g.connect(a, b);
    g.connect(b, c);
    return g;
  }

  /// Waits (bounded) until every handle in `handles` has terminated.
  void expect_all_terminated(const std::vector<caf::actor>& handles) {
    caf::scoped_actor self{rt_.system()};
    for (const auto& hdl : handles)
      self->monitor(hdl);
    size_t pending = handles.size();
    bool timed_out = false;
    while (pending > 0 && !timed_out)
      self->receive([&pending](const caf::down_msg&) { --pending; },
                    caf::after(std::chrono::seconds(5)) >> [&timed_out] { timed_out = true; });
    EXPECT_EQ(pending, 0u) << "timed out after 5 s waiting for every replica to terminate";
  }

  std::shared_ptr<journal> log_ = std::make_shared<journal>();
  runtime rt_{test_config()};
};

std::vector<caf::actor> handles_of(const graph_runner& runner) {
  std::vector<caf::actor> result;
  for (const auto& inst : runner.instances())
    result.push_back(inst.handle);
  return result;
}

// -- tests ------------------------------------------------------------------------------------

TEST_F(runner_test, start_spawns_every_replica_with_its_context) {
  graph g{"fan"};
  auto src = g.add<fake_component>("src", with(), 1);
  auto dst = g.add<fake_component>("dst", with(), 3);
  g.connect(src, dst);
  graph_runner runner{rt_, g};
  auto err = runner.start();
  ASSERT_FALSE(err) << describe(err);
  ASSERT_EQ(runner.instances().size(), 4u);
  auto spawns = log_->spawns();
  ASSERT_EQ(spawns.size(), 4u);
  std::set<instance_id> ids;
  for (size_t i = 0; i < spawns.size(); ++i) {
    const auto& rec = spawns[i];
    const auto& inst = runner.instances()[i];
    SCOPED_TRACE(rec.name + " replica " + std::to_string(rec.replica));
    EXPECT_EQ(inst.component, rec.name);
    EXPECT_EQ(inst.instance, rec.instance);
    EXPECT_TRUE(inst.handle);
    EXPECT_NE(rec.instance.value, 0u);
    EXPECT_TRUE(rec.has_logger);
    EXPECT_EQ(rec.rt, &rt_);
    ids.insert(rec.instance);
  }
  EXPECT_EQ(ids.size(), 4u) << "every replica gets its own instance id";
  std::vector<size_t> dst_replicas;
  for (const auto& rec : spawns) {
    if (rec.name == "dst") {
      dst_replicas.push_back(rec.replica);
      EXPECT_TRUE(rec.targets.empty());
    } else {
      ASSERT_EQ(rec.targets.size(), 1u);
      EXPECT_EQ(rec.targets[0].component, "dst");
      EXPECT_EQ(rec.targets[0].interface, "link");
      EXPECT_EQ(rec.targets[0].endpoint, "link");
      EXPECT_EQ(rec.replica, 0u);
    }
  }
  EXPECT_THAT(dst_replicas, ElementsAre(0u, 1u, 2u));
  EXPECT_EQ(runner.instances_of("dst").size(), 3u);
  EXPECT_EQ(runner.instances_of("src").size(), 1u);
  EXPECT_TRUE(runner.instances_of("nobody").empty());
}

TEST_F(runner_test, instance_ids_are_reproducible_under_a_fixed_seed) {
  auto ids_with_seed = [this](uint64_t seed) {
    runtime rt{test_config(seed)};
    graph g{"seeded"};
    g.add<fake_component>("x", with(), 3);
    graph_runner runner{rt, g};
    EXPECT_FALSE(runner.start());
    std::vector<instance_id> ids;
    for (const auto& inst : runner.instances())
      ids.push_back(inst.instance);
    runner.stop();
    return ids;
  };
  auto first = ids_with_seed(7);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(ids_with_seed(7), first);
  EXPECT_NE(ids_with_seed(8), first);
}

TEST_F(runner_test, sinks_are_spawned_before_sources) {
  auto g = chain();
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  EXPECT_THAT(log_->events("spawn:"), ElementsAre("c", "b", "a"));
}

TEST_F(runner_test, drain_goes_sources_first_and_reports_clean) {
  auto g = chain();
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  auto handles = handles_of(runner);
  EXPECT_TRUE(runner.drain(5s));
  EXPECT_THAT(log_->events("drain:"), ElementsAre("a", "b", "c"));
  // Each replica terminates after its drain reply.
  expect_all_terminated(handles);
  runner.stop();
  EXPECT_TRUE(runner.instances().empty());
}

TEST_F(runner_test, drain_with_abandoned_requests_is_not_clean) {
  auto g = chain(drain_mode::unclean);
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  EXPECT_FALSE(runner.drain(5s));
  EXPECT_THAT(log_->events("drain:"), ElementsAre("a", "b", "c"))
    << "an unclean component does not stop the others from draining";
}

TEST_F(runner_test, drain_of_a_component_that_never_answers_is_bounded) {
  auto g = chain(drain_mode::silent);
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(runner.drain(200ms));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  // The bound is 200 ms plus the runner's 500 ms reply grace; allow generous scheduling slack.
  EXPECT_LT(elapsed, 5s) << "drain must give up on a silent component";
  EXPECT_GE(elapsed, 200ms) << "drain must wait for the silent component up to its bound";
  auto drained = log_->events("drain:");
  ASSERT_GE(drained.size(), 2u);
  EXPECT_EQ(drained[0], "a");
  EXPECT_EQ(drained[1], "b");
  auto handles = handles_of(runner);
  runner.stop();
  expect_all_terminated(handles);
}

// DISABLED: documents a known bug in graph_runner::drain(). Killing a replica that already took
// the drain request and holds its response promise (what every real component does while work
// is in flight) does not answer the request in CAF 0.17 (there is no broken-promise error), so
// drain() blocks until its own timeout and a second SIGINT/SIGTERM in dynamo::run() does not
// force an immediate stop. Enable once drain() also watches the replica (monitor/down_msg).
TEST_F(runner_test, kill_all_ends_a_drain_in_progress) {
  graph g{"stuck"};
  g.add<fake_component>("stuck", with(drain_mode::silent));
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  std::atomic<bool> done{false};
  bool clean = true;
  std::thread drainer{[&runner, &done, &clean] {
    clean = runner.drain(20s);
    done = true;
  }};
  ASSERT_TRUE(testing::wait_until([this] { return log_->events("drain:").size() == 1; }, 5s))
    << "timed out waiting for the drain request to reach the component";
  runner.kill_all();
  EXPECT_TRUE(testing::wait_until([&done] { return done.load(); }, 5s))
    << "timed out waiting for drain() to return after kill_all()";
  drainer.join();
  EXPECT_FALSE(clean);
}

TEST_F(runner_test, cyclic_graph_still_drains_everything) {
  graph g{"cycle"};
  auto a = g.add<fake_component>("a", with());
  auto b = g.add<fake_component>("b", with());
  g.connect(a, b);
  g.connect(b, a);
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  EXPECT_TRUE(runner.drain(5s));
  EXPECT_THAT(log_->events("drain:"), ElementsAre("a", "b"));
}

TEST_F(runner_test, edge_to_a_component_without_replicas_fails_start) {
  graph g{"empty-target"};
  auto a = g.add<fake_component>("a", with(), 1);
  auto b = g.add<fake_component>("b", with(), 0);
  g.connect(a, b);
  graph_runner runner{rt_, g};
  auto err = runner.start();
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request) << describe(err);
  EXPECT_NE(client_message(err).find("'b'"), std::string::npos) << client_message(err);
  EXPECT_TRUE(runner.instances().empty());
  EXPECT_TRUE(log_->spawns().empty()) << "nothing is spawned when the graph is invalid";
}

TEST_F(runner_test, component_without_replicas_and_without_incoming_edges_is_fine) {
  graph g{"optional"};
  g.add<fake_component>("idle", with(), 0);
  g.add<fake_component>("busy", with(), 2);
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  EXPECT_EQ(runner.instances().size(), 2u);
  EXPECT_TRUE(runner.instances_of("idle").empty());
}

TEST_F(runner_test, stop_kills_every_replica) {
  auto g = chain(drain_mode::silent);
  graph_runner runner{rt_, g};
  ASSERT_FALSE(runner.start());
  auto handles = handles_of(runner);
  ASSERT_EQ(handles.size(), 3u);
  runner.stop();
  EXPECT_TRUE(runner.instances().empty());
  EXPECT_TRUE(runner.instances_of("a").empty());
  expect_all_terminated(handles);
  EXPECT_TRUE(testing::wait_until([this] { return log_->events("exit:").size() == 3; }, 5s))
    << "timed out waiting for three exit records";
  EXPECT_TRUE(log_->events("drain:").empty()) << "stop() is forced, not a drain";
  runner.stop(); // idempotent
  EXPECT_TRUE(runner.instances().empty());
}

TEST_F(runner_test, destroying_the_runner_stops_its_replicas) {
  std::vector<caf::actor> handles;
  {
    auto g = chain(drain_mode::silent);
    graph_runner runner{rt_, g};
    ASSERT_FALSE(runner.start());
    handles = handles_of(runner);
  }
  expect_all_terminated(handles);
}

TEST_F(runner_test, spawn_returning_no_actor_fails_start_with_internal) {
  graph g{"broken"};
  auto a = g.add<fake_component>("a", with(drain_mode::no_actor));
  auto b = g.add<fake_component>("b", with());
  g.connect(a, b);
  graph_runner runner{rt_, g};
  auto err = runner.start();
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::internal) << describe(err);
  EXPECT_NE(operator_detail(err).find("spawn of a "), std::string::npos) << operator_detail(err);
  // The sink was already running; the runner still owns it and stops it.
  ASSERT_EQ(runner.instances().size(), 1u);
  EXPECT_EQ(runner.instances()[0].component, "b");
  auto handles = handles_of(runner);
  runner.stop();
  expect_all_terminated(handles);
}

TEST_F(runner_test, start_with_a_subset_spawns_only_those_components) {
  auto g = chain();
  graph_runner runner{rt_, g};
  auto err = runner.start({"c", "a"});
  ASSERT_FALSE(err) << describe(err);
  EXPECT_THAT(log_->events("spawn:"), ElementsAre("c", "a"))
    << "only the named components, still sinks first";
  EXPECT_EQ(runner.instances().size(), 2u);
  EXPECT_TRUE(runner.instances_of("b").empty());
  auto spawns = log_->spawns();
  ASSERT_EQ(spawns.size(), 2u);
  ASSERT_EQ(spawns[1].targets.size(), 1u);
  EXPECT_EQ(spawns[1].targets[0].component, "b")
    << "an edge to a component of another process is kept";
  EXPECT_TRUE(runner.drain(5s));
  EXPECT_THAT(log_->events("drain:"), ElementsAre("a", "c")) << "drain order is unchanged";
}

TEST_F(runner_test, start_with_an_unknown_component_fails_naming_it) {
  auto g = chain();
  graph_runner runner{rt_, g};
  auto err = runner.start({"a", "nope"});
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request) << describe(err);
  EXPECT_NE(client_message(err).find("'nope'"), std::string::npos) << client_message(err);
  EXPECT_NE(client_message(err).find("c, a, b"), std::string::npos)
    << "the message lists the graph's components: " << client_message(err);
  EXPECT_TRUE(log_->spawns().empty()) << "nothing is spawned for a bad selection";
}

TEST_F(runner_test, subset_start_still_rejects_an_edge_to_a_component_without_replicas) {
  graph g{"empty-target"};
  auto a = g.add<fake_component>("a", with(), 1);
  auto b = g.add<fake_component>("b", with(), 0);
  g.connect(a, b);
  graph_runner only_b{rt_, g};
  EXPECT_FALSE(only_b.start({"b"})) << "b itself has no outgoing edges";
  EXPECT_TRUE(only_b.instances().empty());
  graph_runner only_a{rt_, g};
  auto err = only_a.start({"a"});
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request) << describe(err);
}

TEST(drain_order, puts_sources_first_and_cycles_in_declaration_order) {
  auto spec = [](std::string name, std::vector<std::string> targets) {
    node_spec n;
    n.name = std::move(name);
    for (auto& t : targets)
      n.targets.push_back(edge_target{t, "generate", "generate"});
    return n;
  };
  std::vector<node_spec> chain{spec("worker", {}), spec("router", {"worker"}),
                               spec("frontend", {"router"})};
  EXPECT_THAT(drain_order(chain), ElementsAre(2u, 1u, 0u));
  std::vector<node_spec> cycle{spec("x", {"y"}), spec("y", {"x"}), spec("z", {})};
  EXPECT_THAT(drain_order(cycle), ElementsAre(2u, 0u, 1u));
  EXPECT_TRUE(drain_order({}).empty());
}

} // namespace
} // namespace dynamo
