#include "dynamo/launch/serve.hpp"

#include "dynamo/error.hpp"
#include "dynamo/launch/signals.hpp"
#include "dynamo/runner.hpp"
#include "dynamo/runtime.hpp"

#include <fmt/format.h>

#include <atomic>
#include <thread>

namespace dynamo::launch {

int serve(runtime& rt, const graph& g, const std::vector<std::string>& only,
          const sigset_t& signals) {
  auto log = only.empty() ? rt.logger("main", g.name())
                          : rt.logger("main", fmt::format("{}:{}", g.name(), fmt::join(only, ",")));
  graph_runner runner{rt, g};
  if (auto err = runner.start(only)) {
    log->error("failed to start graph: {}", describe(err));
    return 1;
  }
  auto what = only.empty() ? std::string{"graph"}
                           : fmt::format("component(s) {} of graph", fmt::join(only, ", "));
  log->info("{} '{}' running with {} component instance(s); Ctrl-C to stop", what, g.name(),
            runner.instances().size());
  int sig = 0;
  while (sig == 0)
    sig = wait_signal(signals, std::chrono::milliseconds{500});
  auto bound = rt.config().drain_timeout;
  log->info("received signal {}: draining (bound {} ms; signal again to force)", sig,
            bound.count());
  std::atomic<bool> drained{false};
  bool clean = false;
  std::thread drainer{[&runner, &drained, &clean, bound] {
    clean = runner.drain(bound);
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

} // namespace dynamo::launch
