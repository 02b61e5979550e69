#include "dynamo/run.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/runner.hpp"
#include "dynamo/runtime.hpp"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <pthread.h>
#include <thread>

namespace dynamo {

namespace {

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards, so
/// that only sigtimedwait() in main observes them.
sigset_t block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

/// Waits up to `timeout` for SIGINT/SIGTERM; returns the signal number or 0.
int wait_signal(const sigset_t& set, std::chrono::milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

} // namespace

int run(graph& g, int argc, char** argv, char** envp) {
  auto signals = block_termination_signals();
  option_set opts{fmt::format(
    "{}: an LLM inference graph served by libdynamo (embedded mode: all components in this "
    "process, in-process planes).",
    g.name())};
  runtime_config rt_cfg;
  rt_cfg.bind(opts);
  for (const auto& node : g.nodes())
    node.bind(opts);
  if (auto err = opts.parse(argc, argv, environment_from(envp))) {
    std::fprintf(stderr, "error: %s\n(see --help)\n", client_message(err).c_str());
    return 2;
  }
  if (opts.help_requested()) {
    std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  runtime rt{rt_cfg};
  auto log = rt.logger("main", g.name());
  graph_runner runner{rt, g};
  if (auto err = runner.start()) {
    log->error("failed to start graph: {}", describe(err));
    return 1;
  }
  log->info("graph '{}' running with {} component instance(s); Ctrl-C to stop", g.name(),
            runner.instances().size());
  int sig = 0;
  while (sig == 0)
    sig = wait_signal(signals, std::chrono::milliseconds{500});
  log->info("received signal {}: draining (bound {} ms; signal again to force)", sig,
            rt_cfg.drain_timeout.count());
  std::atomic<bool> drained{false};
  bool clean = false;
  std::thread drainer{[&runner, &drained, &clean, &rt_cfg] {
    clean = runner.drain(rt_cfg.drain_timeout);
    drained = true;
  }};
  while (!drained) {
    if (wait_signal(signals, std::chrono::milliseconds{100}) != 0) {
      log->warn("second signal: forcing stop");
      break;
    }
  }
  if (!drained) {
    // The drainer's requests are bounded by the drain timeout; killing the actors makes them
    // fail at once.
    runner.kill_all();
  }
  drainer.join();
  runner.stop();
  log->info("stopped ({})", clean ? "clean drain" : "forced");
  return clean ? 0 : 1;
}

} // namespace dynamo
