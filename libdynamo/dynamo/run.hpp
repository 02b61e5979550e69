// dynamo::run: the main() of every graph binary.
#pragma once

#include "dynamo/graph.hpp"

namespace dynamo {

/// Parses defaults < config file < environment < flags for the runtime and every component
/// (--help lists them all), builds an embedded runtime (one process, in-process planes), starts
/// the graph and serves until SIGINT/SIGTERM, then drains within --runtime.drain-timeout
/// (a second signal forces the stop). `envp` is main's third argument (or `environ`).
/// Returns the process exit code: 0 after a clean drain, 1 on start failure or unclean drain,
/// 2 on a configuration error.
int run(graph& g, int argc, char** argv, char** envp);

} // namespace dynamo
