#include "dynamo/launch/launcher.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

namespace dynamo::launch {
namespace {

using ::testing::ElementsAre;

node_spec node(std::string name, size_t replicas, std::vector<std::string> targets = {}) {
  node_spec n;
  n.name = std::move(name);
  n.replicas = replicas;
  for (auto& t : targets)
    n.targets.push_back(edge_target{t, "generate", "generate"});
  return n;
}

TEST(launcher, child_arguments_drop_launch_and_append_the_role_flags) {
  std::vector<std::string> user{"--launch", "--frontend.port", "8080", "--launch=true",
                                "--worker.replicas", "3", "--no-launch"};
  EXPECT_THAT(child_arguments(user, "worker", "nats://127.0.0.1:4222"),
              ElementsAre("--frontend.port", "8080", "--worker.replicas", "3", "--component",
                          "worker", "--worker.replicas", "1", "--nats", "nats://127.0.0.1:4222",
                          "--no-launch"));
}

TEST(launcher, child_arguments_go_before_a_separator) {
  std::vector<std::string> user{"--launch", "--", "--launch", "positional"};
  EXPECT_THAT(child_arguments(user, "router", "nats://n:1"),
              ElementsAre("--component", "router", "--router.replicas", "1", "--nats",
                          "nats://n:1", "--no-launch", "--", "--launch", "positional"));
}

TEST(launcher, make_children_has_one_child_per_replica_grouped_sources_first) {
  launcher_settings s;
  s.executable = "/opt/bin/agg";
  s.user_args = {"--launch", "--worker.speedup-ratio", "100"};
  s.env = {"PATH=/bin", "DYN_LOG=debug"};
  s.nodes = {node("worker", 2), node("router", 1, {"worker"}), node("frontend", 1, {"router"}),
             node("spare", 0)};
  auto children = make_children(s, "nats://127.0.0.1:5000");
  std::vector<std::string> names;
  for (const auto& c : children)
    names.push_back(c.name);
  EXPECT_THAT(names, ElementsAre("worker#1", "worker#0", "router#0", "frontend#0"))
    << "sinks start first; a node without replicas has no process";
  for (const auto& c : children) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.process.env, s.env);
    EXPECT_EQ(c.process.parent_death_signal, SIGKILL);
    EXPECT_TRUE(c.process.own_process_group);
    ASSERT_FALSE(c.process.argv.empty());
    EXPECT_EQ(c.process.argv[0], "/opt/bin/agg");
  }
  EXPECT_THAT(children[3].process.argv,
              ElementsAre("/opt/bin/agg", "--worker.speedup-ratio", "100", "--component",
                          "frontend", "--frontend.replicas", "1", "--nats",
                          "nats://127.0.0.1:5000", "--no-launch"));
  auto group_of = [&children](const std::string& name) {
    for (const auto& c : children)
      if (c.name == name)
        return c.stop_group;
    return size_t{99};
  };
  EXPECT_LT(group_of("frontend#0"), group_of("router#0"));
  EXPECT_LT(group_of("router#0"), group_of("worker#0"));
  EXPECT_EQ(group_of("worker#0"), group_of("worker#1"));
}

} // namespace
} // namespace dynamo::launch
