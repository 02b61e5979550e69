#include "dynamo/launch/run.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/launch/launcher.hpp"
#include "dynamo/launch/plane_setup.hpp"
#include "dynamo/launch/roles.hpp"
#include "dynamo/launch/serve.hpp"
#include "dynamo/launch/signals.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/process.hpp"
#include "dynamo/runtime.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace dynamo {

namespace {

/// Exit code for a failure to set up: 2 when the user's input is at fault, else 1.
int exit_code_of(const caf::error& err) {
  return classify(err) == errc::invalid_request ? 2 : 1;
}

/// The path of the running binary, so that children run exactly this build.
std::string self_executable(const char* argv0) {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    return path.string();
  return argv0 != nullptr ? std::string{argv0} : std::string{};
}

int run_component(graph& g, const runtime_config& rt_cfg, const launch::role_options& roles,
                  run_options opts, const sigset_t& signals) {
  log_sinks logs{rt_cfg.log_level};
  auto log = logs.make("main", g.name());
  launch::distributed_settings ds;
  ds.nats_url = roles.nats_url;
  ds.connection_name = fmt::format("{}/{}", g.name(), fmt::join(roles.components, ","));
  ds.rpc_listen = roles.rpc_listen;
  ds.rpc_advertise = roles.rpc_advertise;
  ds.bindings = launch::default_bindings();
  for (auto& [endpoint, binding] : opts.bindings)
    ds.bindings.insert_or_assign(endpoint, std::move(binding));
  ds.logs = &logs;
  auto backends = launch::make_distributed_backends(ds);
  if (!backends) {
    log->error("cannot connect to NATS at {}: {}", roles.nats_url, describe(backends.error()));
    return exit_code_of(backends.error());
  }
  auto rt = runtime::make(rt_cfg, std::move(*backends));
  if (!rt) {
    log->error("cannot start the request plane on {}: {}", roles.rpc_listen,
               describe(rt.error()));
    return exit_code_of(rt.error());
  }
  log->info("component role: {} against {}, RPC at {}", fmt::join(roles.components, ", "),
            roles.nats_url, (*rt)->requests().advertised_address());
  return launch::serve(**rt, g, roles.components, signals);
}

int run_launcher(graph& g, int argc, char** argv, char** envp, const runtime_config& rt_cfg,
                 const launch::role_options& roles, const sigset_t& signals) {
  log_sinks logs{rt_cfg.log_level};
  launch::launcher_settings ls;
  ls.graph_name = g.name();
  ls.nodes = g.nodes();
  ls.executable = self_executable(argc > 0 ? argv[0] : nullptr);
  for (int i = 1; i < argc; ++i)
    ls.user_args.emplace_back(argv[i]);
  ls.env = environment_entries(envp);
  ls.nats_url = roles.nats_url;
  ls.drain_timeout = rt_cfg.drain_timeout;
  ls.supervision.backoff.initial = roles.backoff_initial;
  ls.supervision.backoff.max = roles.backoff_max;
  ls.supervision.backoff.stable_after = roles.stable_after;
  ls.supervision.summary_interval = roles.summary_interval;
  ls.log = logs.make("launcher", g.name());
  return launch::run_launcher(std::move(ls), signals);
}

} // namespace

int run(graph& g, int argc, char** argv, char** envp) {
  return run(g, argc, argv, envp, run_options{});
}

int run(graph& g, int argc, char** argv, char** envp, run_options opts) {
  auto signals = launch::block_termination_signals();
  option_set options{fmt::format(
    "{}: an LLM inference graph served by libdynamo. By default every component runs in this "
    "process (embedded); --component NAME --nats URL runs only some of them against a NATS "
    "server; --launch runs each replica as its own supervised local process.",
    g.name())};
  runtime_config rt_cfg;
  rt_cfg.bind(options);
  launch::role_options roles;
  roles.bind(options);
  for (const auto& node : g.nodes())
    node.bind(options);
  if (auto err = options.parse(argc, argv, environment_from(envp))) {
    std::fprintf(stderr, "error: %s\n(see --help)\n", client_message(err).c_str());
    return 2;
  }
  if (options.help_requested()) {
    std::fputs(options.help().c_str(), stdout);
    return 0;
  }
  auto role = launch::select_role(roles, rt_cfg, g.nodes());
  if (!role) {
    std::fprintf(stderr, "error: %s\n(see --help)\n", client_message(role.error()).c_str());
    return 2;
  }
  switch (*role) {
    case launch::role::component:
      return run_component(g, rt_cfg, roles, std::move(opts), signals);
    case launch::role::launcher:
      return run_launcher(g, argc, argv, envp, rt_cfg, roles, signals);
    case launch::role::embedded:
      break;
  }
  runtime rt{rt_cfg};
  return launch::serve(rt, g, {}, signals);
}

} // namespace dynamo
