#include "dynamo/launch/launcher.hpp"

#include "dynamo/error.hpp"
#include "dynamo/launch/nats_process.hpp"
#include "dynamo/launch/signals.hpp"
#include "dynamo/runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace dynamo::launch {

namespace {

using std::chrono::steady_clock;

bool is_launch_flag(const std::string& arg) {
  return arg == "--launch" || arg.starts_with("--launch=") || arg == "--no-launch";
}

} // namespace

std::vector<std::string> child_arguments(const std::vector<std::string>& user_args,
                                         const std::string& component,
                                         const std::string& nats_url) {
  std::vector<std::string> result;
  auto separator = std::find(user_args.begin(), user_args.end(), "--");
  for (auto i = user_args.begin(); i != separator; ++i)
    if (!is_launch_flag(*i))
      result.push_back(*i);
  result.emplace_back("--component");
  result.push_back(component);
  result.push_back(fmt::format("--{}.replicas", component));
  result.emplace_back("1");
  result.emplace_back("--nats");
  result.push_back(nats_url);
  result.emplace_back("--no-launch");
  result.insert(result.end(), separator, user_args.end());
  return result;
}

std::vector<child_spec> make_children(const launcher_settings& settings,
                                      const std::string& nats_url) {
  std::vector<child_spec> result;
  auto order = drain_order(settings.nodes);
  for (size_t group = 0; group < order.size(); ++group) {
    const auto& node = settings.nodes[order[group]];
    for (size_t replica = 0; replica < node.replicas; ++replica) {
      child_spec c;
      c.name = fmt::format("{}#{}", node.name, replica);
      c.stop_group = group;
      c.process.argv.push_back(settings.executable);
      auto args = child_arguments(settings.user_args, node.name, nats_url);
      c.process.argv.insert(c.process.argv.end(), args.begin(), args.end());
      c.process.env = settings.env;
      c.process.parent_death_signal = SIGKILL;
      c.process.own_process_group = true;
      result.push_back(std::move(c));
    }
  }
  // Start sinks first: their records are in discovery when the sources come up.
  std::reverse(result.begin(), result.end());
  return result;
}

int run_launcher(launcher_settings settings, const sigset_t& signals) {
  auto log = settings.log ? settings.log : default_logger("launcher");
  std::unique_ptr<nats_process> nats;
  auto url = settings.nats_url;
  if (url.empty()) {
    nats_process_options nopts;
    nopts.env = settings.env;
    nopts.log = log;
    auto started = nats_process::start(std::move(nopts));
    if (!started) {
      log->error("cannot start a private nats-server: {}", describe(started.error()));
      return 1;
    }
    nats = std::move(*started);
    url = nats->url();
  }
  auto children = make_children(settings, url);
  if (children.empty()) {
    log->error("graph '{}' has no replicas to launch", settings.graph_name);
    return 1;
  }
  log->info("launching graph '{}': {} process(es) against {}; Ctrl-C to stop",
            settings.graph_name, children.size(), url);
  if (!settings.supervision.log)
    settings.supervision.log = log;
  supervisor sup{std::move(children), settings.supervision};
  sup.start();
  auto next_nats_check = steady_clock::now();
  int sig = 0;
  while (sig == 0) {
    sig = wait_signal(signals, std::chrono::milliseconds{200});
    if (sig == 0 && nats && steady_clock::now() >= next_nats_check && !nats->running()) {
      // The components reconnect by themselves once their server is back on the same port.
      log->error("the private nats-server is gone; restarting it on port {}", nats->port());
      if (auto err = nats->restart())
        log->error("nats-server restart failed: {}", describe(err));
      next_nats_check = steady_clock::now() + std::chrono::seconds{2};
    }
  }
  auto grace = settings.drain_timeout + settings.stop_margin;
  log->info("received signal {}: stopping {} sources first (SIGKILL after {} ms; signal again "
            "to force)",
            sig, settings.graph_name, grace.count());
  sup.request_stop(grace);
  while (!sup.wait_stopped(std::chrono::milliseconds{0})) {
    if (wait_signal(signals, std::chrono::milliseconds{100}) != 0) {
      log->warn("second signal: killing every process");
      sup.force_stop();
      sup.wait_stopped(std::chrono::seconds{5});
      break;
    }
  }
  bool clean = sup.clean();
  if (nats) {
    auto status = nats->stop();
    if (status && !status->success())
      clean = false;
    nats.reset();
  }
  log->info("launcher stopped ({}): {}", clean ? "clean" : "not clean", sup.summary());
  return clean ? 0 : 1;
}

} // namespace dynamo::launch
