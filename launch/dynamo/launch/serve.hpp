// Serving a graph (or part of it) in this process until SIGINT/SIGTERM, then draining it.
#pragma once

#include "dynamo/graph.hpp"

#include <csignal>
#include <string>
#include <vector>

namespace dynamo {

class runtime;

namespace launch {

/// Starts the components named in `only` (all when empty) in `rt`, serves until a signal of
/// `signals` arrives, then drains sources first within the runtime's drain timeout (a second
/// signal forces the stop). Main thread, with `signals` blocked in every thread. Returns the
/// exit code: 0 after a clean drain, 1 on a start failure or an unclean drain.
int serve(runtime& rt, const graph& g, const std::vector<std::string>& only,
          const sigset_t& signals);

} // namespace launch
} // namespace dynamo
