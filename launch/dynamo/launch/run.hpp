// dynamo::run: the main() of every graph binary, in one of three roles (see roles.hpp).
#pragma once

#include "dynamo/graph.hpp"

#include <map>
#include <memory>
#include <string>

namespace dynamo::capnp {
class interface_binding;
} // namespace dynamo::capnp

namespace dynamo {

/// What a graph binary adds to dynamo::run's defaults.
struct run_options {
  /// Cap'n Proto interface bindings by endpoint name, for components that serve endpoints of
  /// their own in the component role; added to the built-in ones ("generate"), replacing a
  /// built-in one of the same name.
  std::map<std::string, std::shared_ptr<const capnp::interface_binding>> bindings;
};

/// Parses defaults < config file < environment < flags for the runtime, the role and every
/// component (--help lists them all), then runs the graph in the role the flags choose:
/// embedded (default: every component in this process, in-process planes), component
/// (--component NAME[,NAME] --nats URL: only those components, NATS discovery and events,
/// Cap'n Proto requests) or launcher (--launch [--nats URL]: one supervised local process per
/// replica, plus a private nats-server without a URL). Serves until SIGINT/SIGTERM, then drains
/// within --runtime.drain-timeout (a second signal forces the stop). `envp` is main's third
/// argument (or `environ`). Main thread, before any other thread is started. Returns the
/// process exit code: 0 after a clean stop, 1 on a start failure or an unclean stop, 2 on a
/// configuration error.
int run(graph& g, int argc, char** argv, char** envp);

/// run() with extra interface bindings for the component role.
int run(graph& g, int argc, char** argv, char** envp, run_options opts);

} // namespace dynamo
