// The launcher role: one local process per replica of every component (the same binary in the
// component role), a private nats-server unless a URL is given, supervision, ordered stop.
#pragma once

#include "dynamo/graph.hpp"
#include "dynamo/launch/supervisor.hpp"
#include "dynamo/log.hpp"

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

namespace dynamo::launch {

/// What the launcher needs to know.
struct launcher_settings {
  std::string graph_name;              ///< For logs.
  std::vector<node_spec> nodes;        ///< The graph's nodes after flag parsing.
  std::string executable;              ///< The binary to start for each replica.
  std::vector<std::string> user_args;  ///< The launcher's own arguments (argv[1..]).
  std::vector<std::string> env;        ///< The launcher's environment ("NAME=value").
  std::string nats_url;                ///< NATS to use; empty: start a private nats-server.
  std::chrono::milliseconds drain_timeout{10000}; ///< The children's drain bound.
  std::chrono::milliseconds stop_margin{5000};    ///< Extra wait before SIGKILL.
  supervisor_options supervision;      ///< Backoff, summary period (log and on_change too).
  logger_ptr log;                      ///< Logger; empty for default_logger("launcher").
};

/// The arguments (after argv[0]) of the child running one replica of `component`: the user's
/// arguments without --launch, then --component, --<component>.replicas 1, --nats and
/// --no-launch (placed before a "--" separator, so that they win over the user's flags, the
/// environment and a config file). Any thread.
std::vector<std::string> child_arguments(const std::vector<std::string>& user_args,
                                         const std::string& component,
                                         const std::string& nats_url);

/// One child per replica ("<component>#<i>"); stop groups follow the graph's drain order
/// (sources first). Any thread.
std::vector<child_spec> make_children(const launcher_settings& settings,
                                      const std::string& nats_url);

/// Runs the launcher until a signal of `signals` (blocked in every thread) arrives, then stops
/// the children sources first (SIGTERM, SIGKILL after drain_timeout + stop_margin; a second
/// signal kills at once) and the nats-server. Returns 0 when all stopped cleanly, 1 otherwise
/// (also when the nats-server cannot start). Main thread.
int run_launcher(launcher_settings settings, const sigset_t& signals);

} // namespace dynamo::launch
