#include "dynamo/graph.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace dynamo {
namespace {

// -- interface tags and fake component types -------------------------------------------------

struct alpha_api {
  using handle_type = caf::actor;
  static constexpr const char* name = "alpha";
};

struct beta_api {
  using handle_type = caf::actor;
  static constexpr const char* name = "beta";
};

struct gamma_api {
  using handle_type = caf::actor;
  static constexpr const char* name = "gamma";
};

/// What a fake spawn saw: the configuration it was handed and the context's name.
struct spawn_log {
  std::vector<std::string> greetings;
  std::vector<std::string> names;
};

struct fake_config {
  std::string greeting = "hello";
  uint32_t depth = 1;
  std::shared_ptr<spawn_log> seen = std::make_shared<spawn_log>();
  void bind(option_set& opts, const std::string& prefix) {
    opts.add(greeting, prefix + ".greeting", "what the fake says");
    opts.add(depth, prefix + ".depth", "a numeric knob");
  }
};

/// Records the call and returns no actor (graph tests never run components).
caf::actor record_spawn(component_context& ctx, const fake_config& cfg) {
  cfg.seen->greetings.push_back(cfg.greeting);
  cfg.seen->names.push_back(ctx.name);
  return {};
}

/// Requires alpha, then beta.
struct source {
  using config = fake_config;
  using provides = interfaces<>;
  using requires_ = interfaces<alpha_api, beta_api>;
  static constexpr std::string_view kind = "source";
  static caf::actor spawn(component_context& ctx, const config& cfg) {
    return record_spawn(ctx, cfg);
  }
};

/// Provides beta, then alpha: connect() must still pick alpha (the source's first requirement).
struct both_sink {
  using config = fake_config;
  using provides = interfaces<beta_api, alpha_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "both-sink";
  static caf::actor spawn(component_context& ctx, const config& cfg) {
    return record_spawn(ctx, cfg);
  }
};

/// Provides beta only.
struct beta_sink {
  using config = fake_config;
  using provides = interfaces<beta_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "beta-sink";
  static caf::actor spawn(component_context& ctx, const config& cfg) {
    return record_spawn(ctx, cfg);
  }
};

/// Provides gamma only: nothing a source requires.
struct gamma_sink {
  using config = fake_config;
  using provides = interfaces<gamma_api>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "gamma-sink";
  static caf::actor spawn(component_context& ctx, const config& cfg) {
    return record_spawn(ctx, cfg);
  }
};

/// Not a component: its config cannot bind.
struct no_bind {
  struct config {};
  using provides = interfaces<>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "no-bind";
  static caf::actor spawn(component_context&, const config&) { return {}; }
};

/// Not a component: spawn returns something that is not an actor.
struct bad_spawn {
  using config = fake_config;
  using provides = interfaces<>;
  using requires_ = interfaces<>;
  static constexpr std::string_view kind = "bad-spawn";
  static int spawn(component_context&, const config&) { return 0; }
};

// -- compile-time checks ------------------------------------------------------------------------

static_assert(component_type<source>);
static_assert(component_type<both_sink>);
static_assert(component_type<beta_sink>);
static_assert(!component_type<no_bind>);
static_assert(!component_type<bad_spawn>);
static_assert(!component_type<int>);

static_assert(connectable<source, both_sink>);
static_assert(connectable<source, beta_sink>);
static_assert(!connectable<source, gamma_sink>);
static_assert(!connectable<both_sink, source>);
static_assert(!connectable<beta_sink, both_sink>);
static_assert(!connectable<source, source>);

static_assert(connectable_via<source, both_sink, alpha_api>);
static_assert(connectable_via<source, both_sink, beta_api>);
static_assert(connectable_via<source, beta_sink, beta_api>);
static_assert(!connectable_via<source, beta_sink, alpha_api>);
static_assert(!connectable_via<source, gamma_sink, gamma_api>);

// -- helpers ----------------------------------------------------------------------------------

const node_spec& find_node(const std::vector<node_spec>& nodes, const std::string& name) {
  for (const auto& n : nodes)
    if (n.name == name)
      return n;
  ADD_FAILURE() << "no node named '" << name << "'";
  static const node_spec missing;
  return missing;
}

/// Binds every node's options and parses `args` (the program name is prepended).
caf::error parse_flags(const graph& g, option_set& opts, std::vector<std::string> args) {
  for (const auto& n : g.nodes())
    n.bind(opts);
  std::vector<const char*> argv{"graph_test"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  return opts.parse(static_cast<int>(argv.size()), argv.data(), {});
}

// -- tests ------------------------------------------------------------------------------------

TEST(graph, reports_names_kinds_replicas_and_edges) {
  graph g{"demo"};
  auto src = g.add<source>("src", {}, 2);
  auto both = g.add<both_sink>("both");
  auto beta = g.add<beta_sink>("beta-only", {}, 4);
  g.connect(src, both);
  g.connect(src, beta);
  EXPECT_EQ(g.name(), "demo");
  EXPECT_EQ(src.name(), "src");
  EXPECT_EQ(src.index(), 0u);
  EXPECT_EQ(both.index(), 1u);
  EXPECT_EQ(beta.index(), 2u);
  auto nodes = g.nodes();
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].name, "src");
  EXPECT_EQ(nodes[0].kind, "source");
  EXPECT_EQ(nodes[0].replicas, 2u);
  EXPECT_EQ(nodes[1].name, "both");
  EXPECT_EQ(nodes[1].kind, "both-sink");
  EXPECT_EQ(nodes[1].replicas, 1u);
  EXPECT_EQ(nodes[2].kind, "beta-sink");
  EXPECT_EQ(nodes[2].replicas, 4u);
  ASSERT_EQ(nodes[0].targets.size(), 2u);
  EXPECT_EQ(nodes[0].targets[0].component, "both");
  EXPECT_EQ(nodes[0].targets[0].interface, "alpha");
  EXPECT_EQ(nodes[0].targets[0].endpoint, "alpha");
  EXPECT_EQ(nodes[0].targets[1].component, "beta-only");
  EXPECT_EQ(nodes[0].targets[1].interface, "beta");
  EXPECT_EQ(nodes[0].targets[1].endpoint, "beta");
  EXPECT_TRUE(nodes[1].targets.empty());
  EXPECT_TRUE(nodes[2].targets.empty());
}

TEST(graph, connect_picks_the_first_required_interface_the_target_provides) {
  graph g{"first"};
  auto src = g.add<source>("src");
  auto both = g.add<both_sink>("both");
  g.connect(src, both);
  auto nodes = g.nodes();
  ASSERT_EQ(nodes[0].targets.size(), 1u);
  EXPECT_EQ(nodes[0].targets[0].interface, "alpha")
    << "source requires <alpha, beta>; the sink provides <beta, alpha>";
}

TEST(graph, connect_via_uses_the_named_interface) {
  graph g{"via"};
  auto src = g.add<source>("src");
  auto both = g.add<both_sink>("both");
  g.connect_via<beta_api>(src, both);
  auto nodes = g.nodes();
  ASSERT_EQ(nodes[0].targets.size(), 1u);
  EXPECT_EQ(nodes[0].targets[0].component, "both");
  EXPECT_EQ(nodes[0].targets[0].interface, "beta");
  EXPECT_EQ(nodes[0].targets[0].endpoint, "beta");
}

TEST(graph, duplicate_edges_are_collapsed) {
  graph g{"dup"};
  auto src = g.add<source>("src");
  auto both = g.add<both_sink>("both");
  g.connect(src, both);
  g.connect(src, both);
  g.connect_via<alpha_api>(src, both);
  auto nodes = g.nodes();
  ASSERT_EQ(nodes[0].targets.size(), 1u);
  // The same pair through another interface is a different edge.
  g.connect_via<beta_api>(src, both);
  g.connect_via<beta_api>(src, both);
  nodes = g.nodes();
  ASSERT_EQ(nodes[0].targets.size(), 2u);
  EXPECT_EQ(nodes[0].targets[0].interface, "alpha");
  EXPECT_EQ(nodes[0].targets[1].interface, "beta");
}

TEST(graph, flags_override_replicas_and_config_fields) {
  graph g{"flags"};
  fake_config cfg;
  cfg.greeting = "default";
  auto seen = cfg.seen;
  g.add<source>("src", cfg, 1);
  g.add<both_sink>("sink", {}, 2);
  option_set opts{"graph test"};
  auto err = parse_flags(g, opts,
                         {"--src.replicas", "3", "--src.greeting", "bonjour", "--src.depth", "7"});
  ASSERT_FALSE(err) << describe(err);
  auto nodes = g.nodes();
  EXPECT_EQ(find_node(nodes, "src").replicas, 3u);
  EXPECT_EQ(find_node(nodes, "sink").replicas, 2u) << "untouched nodes keep their count";
  // The parsed configuration is the one the spawn function receives.
  component_context ctx;
  ctx.name = "src";
  auto hdl = find_node(nodes, "src").spawn(ctx);
  EXPECT_FALSE(hdl);
  ASSERT_EQ(seen->greetings.size(), 1u);
  EXPECT_EQ(seen->greetings[0], "bonjour");
  EXPECT_EQ(seen->names[0], "src");
  EXPECT_EQ(cfg.greeting, "default") << "the graph keeps its own copy of the config";
}

TEST(graph, help_lists_every_node_option) {
  graph g{"help"};
  g.add<source>("src");
  g.add<beta_sink>("sink");
  option_set opts{"graph test"};
  auto err = parse_flags(g, opts, {"--help"});
  ASSERT_FALSE(err) << describe(err);
  EXPECT_TRUE(opts.help_requested());
  auto help = opts.help();
  for (const auto* key : {"src.replicas", "src.greeting", "src.depth", "sink.replicas",
                          "sink.greeting"})
    EXPECT_NE(help.find(key), std::string::npos) << key << " missing from:\n" << help;
}

TEST(graph, bad_flag_values_leave_the_graph_unchanged) {
  graph g{"bad"};
  auto seen = std::make_shared<spawn_log>();
  fake_config cfg;
  cfg.seen = seen;
  g.add<source>("src", cfg, 2);
  option_set opts{"graph test"};
  auto err = parse_flags(g, opts, {"--src.greeting", "changed", "--src.replicas", "many"});
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_NE(client_message(err).find("src.replicas"), std::string::npos) << client_message(err);
  auto nodes = g.nodes();
  EXPECT_EQ(nodes[0].replicas, 2u);
  component_context ctx;
  static_cast<void>(nodes[0].spawn(ctx));
  ASSERT_EQ(seen->greetings.size(), 1u);
  EXPECT_EQ(seen->greetings[0], "hello") << "a failed parse must not half-apply";
}

TEST(graph, unknown_node_flag_is_rejected) {
  graph g{"unknown"};
  g.add<source>("src");
  option_set opts{"graph test"};
  auto err = parse_flags(g, opts, {"--other.replicas", "3"});
  ASSERT_TRUE(err);
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_NE(client_message(err).find("other.replicas"), std::string::npos) << client_message(err);
}

TEST(graph, zero_replicas_can_be_configured) {
  graph g{"zero"};
  g.add<beta_sink>("sink", {}, 0);
  EXPECT_EQ(g.nodes()[0].replicas, 0u);
  option_set opts{"graph test"};
  ASSERT_FALSE(parse_flags(g, opts, {"--sink.replicas", "5"}));
  EXPECT_EQ(g.nodes()[0].replicas, 5u);
}

TEST(graph_death_test, duplicate_name_is_a_programming_error) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
    {
      graph g{"dups"};
      g.add<source>("same");
      g.add<beta_sink>("same");
    },
    "duplicate component 'same'");
}

TEST(graph_death_test, invalid_name_is_a_programming_error) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
    {
      graph g{"names"};
      g.add<source>("no.dots");
    },
    "invalid component name 'no.dots'");
}

} // namespace
} // namespace dynamo
