#include "dynamo/launch/roles.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/runtime.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace dynamo::launch {
namespace {

using namespace std::chrono_literals;

std::vector<node_spec> agg_nodes() {
  std::vector<node_spec> nodes(3);
  nodes[0].name = "worker";
  nodes[1].name = "router";
  nodes[2].name = "frontend";
  return nodes;
}

/// Parses `args` (and `env`) into fresh options and selects the role.
struct parsed {
  runtime_config rt;
  role_options roles;
  caf::error parse_error;
  caf::expected<role> selected = caf::error{};
};

parsed select(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  parsed result;
  option_set opts{"test"};
  result.rt.bind(opts);
  result.roles.bind(opts);
  std::vector<const char*> argv{"prog"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  result.parse_error = opts.parse(static_cast<int>(argv.size()), argv.data(), env);
  if (!result.parse_error)
    result.selected = select_role(result.roles, result.rt, agg_nodes());
  return result;
}

std::string message_of(const parsed& p) {
  return p.selected ? std::string{} : client_message(p.selected.error());
}

TEST(roles, no_flags_is_embedded) {
  auto p = select({});
  ASSERT_TRUE(p.selected) << describe(p.selected.error());
  EXPECT_EQ(*p.selected, role::embedded);
  EXPECT_EQ(to_string(*p.selected), "embedded");
}

TEST(roles, component_with_nats_is_the_component_role) {
  auto p = select({"--component", "router,worker", "--nats", "nats://10.0.0.1:4222",
                   "--rpc.listen", "0.0.0.0:7000", "--rpc.advertise", "10.0.0.2:7000"});
  ASSERT_TRUE(p.selected) << describe(p.selected.error());
  EXPECT_EQ(*p.selected, role::component);
  EXPECT_EQ(p.roles.components, (std::vector<std::string>{"router", "worker"}));
  EXPECT_EQ(p.roles.nats_url, "nats://10.0.0.1:4222");
  EXPECT_EQ(p.roles.rpc_listen, "0.0.0.0:7000");
  EXPECT_EQ(p.roles.rpc_advertise, "10.0.0.2:7000");
}

TEST(roles, the_environment_selects_too) {
  auto p = select({}, {{"DYN_COMPONENT", "worker"}, {"DYN_NATS_URL", "nats://n:4222"},
                       {"DYN_DISCOVERY_TTL", "1500ms"}});
  ASSERT_TRUE(p.selected) << describe(p.selected.error());
  EXPECT_EQ(*p.selected, role::component);
  EXPECT_EQ(p.rt.lease_ttl, 1500ms);
  auto l = select({}, {{"DYN_LAUNCH", "1"}});
  ASSERT_TRUE(l.selected) << describe(l.selected.error());
  EXPECT_EQ(*l.selected, role::launcher);
}

TEST(roles, launch_with_or_without_a_url_is_the_launcher) {
  auto p = select({"--launch"});
  ASSERT_TRUE(p.selected) << describe(p.selected.error());
  EXPECT_EQ(*p.selected, role::launcher);
  EXPECT_TRUE(p.roles.nats_url.empty());
  auto q = select({"--launch", "--nats", "nats://n:4222"});
  ASSERT_TRUE(q.selected) << describe(q.selected.error());
  EXPECT_EQ(*q.selected, role::launcher);
}

TEST(roles, component_without_nats_is_refused) {
  auto p = select({"--component", "worker"});
  ASSERT_FALSE(p.selected);
  EXPECT_EQ(classify(p.selected.error()), errc::invalid_request);
  EXPECT_NE(message_of(p).find("--nats"), std::string::npos) << message_of(p);
}

TEST(roles, launch_and_component_exclude_each_other) {
  auto p = select({"--launch", "--component", "worker", "--nats", "nats://n:4222"});
  ASSERT_FALSE(p.selected);
  EXPECT_NE(message_of(p).find("exclude"), std::string::npos) << message_of(p);
}

TEST(roles, nats_alone_is_refused) {
  auto p = select({"--nats", "nats://n:4222"});
  ASSERT_FALSE(p.selected);
  EXPECT_NE(message_of(p).find("--component"), std::string::npos) << message_of(p);
}

TEST(roles, an_unknown_component_is_named_with_the_known_ones) {
  auto p = select({"--component", "wroker", "--nats", "nats://n:4222"});
  ASSERT_FALSE(p.selected);
  EXPECT_NE(message_of(p).find("'wroker'"), std::string::npos) << message_of(p);
  EXPECT_NE(message_of(p).find("worker, router, frontend"), std::string::npos) << message_of(p);
}

TEST(roles, a_lease_ttl_under_100ms_is_refused) {
  auto p = select({"--discovery.ttl", "50ms"});
  ASSERT_FALSE(p.selected);
  EXPECT_NE(message_of(p).find("--discovery.ttl"), std::string::npos) << message_of(p);
}

TEST(roles, backoff_bounds_are_checked_for_the_launcher) {
  auto p = select({"--launch", "--launcher.backoff-initial", "0ms"});
  ASSERT_FALSE(p.selected);
  EXPECT_NE(message_of(p).find("backoff-initial"), std::string::npos) << message_of(p);
  auto q = select({"--launch", "--launcher.backoff-initial", "2s", "--launcher.backoff-max",
                   "1s"});
  ASSERT_FALSE(q.selected);
  EXPECT_NE(message_of(q).find("backoff-max"), std::string::npos) << message_of(q);
}

TEST(roles, help_lists_every_role_flag_with_its_variable) {
  option_set opts{"test"};
  runtime_config rt;
  role_options roles;
  rt.bind(opts);
  roles.bind(opts);
  auto help = opts.help();
  for (const auto* needle : {"--launch", "DYN_LAUNCH", "--component", "DYN_COMPONENT", "--nats",
                             "DYN_NATS_URL", "--rpc.listen", "DYN_RPC_LISTEN", "--rpc.advertise",
                             "DYN_RPC_ADVERTISE", "--discovery.ttl", "--launcher.backoff-max"})
    EXPECT_NE(help.find(needle), std::string::npos) << needle << " missing from:\n" << help;
}

} // namespace
} // namespace dynamo::launch
