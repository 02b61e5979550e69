#include "dynamo/launch/roles.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/runtime.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::launch {

namespace {

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

} // namespace

std::string_view to_string(role x) noexcept {
  switch (x) {
    case role::embedded:
      return "embedded";
    case role::component:
      return "component";
    case role::launcher:
      return "launcher";
  }
  return "unknown";
}

void role_options::bind(option_set& opts) {
  opts.add(launch, "launch",
           "launcher mode: start every replica of every component as its own local process "
           "(plus a private nats-server unless --nats is given), supervise them, stop them on "
           "Ctrl-C",
           "DYN_LAUNCH");
  opts.add(components, "component",
           "component mode: run only these components (comma-separated) against --nats",
           "DYN_COMPONENT");
  opts.add(nats_url, "nats",
           "NATS server URL(s) for discovery and events (nats://host:4222; comma-separated "
           "for a cluster); required with --component",
           "DYN_NATS_URL");
  opts.add(rpc_listen, "rpc.listen",
           "component mode: where this process's Cap'n Proto RPC server listens (host:port, "
           "port 0 = any free port)",
           "DYN_RPC_LISTEN");
  opts.add(rpc_advertise, "rpc.advertise",
           "component mode: the host:port other processes dial to reach this one (when it "
           "differs from the bound address, e.g. behind NAT); empty = the bound address",
           "DYN_RPC_ADVERTISE");
  opts.add(summary_interval, "launcher.summary-interval",
           "launcher mode: period of the one-line state summary in the log (0 = none)");
  opts.add(backoff_initial, "launcher.backoff-initial",
           "launcher mode: delay before restarting a crashed process; doubles per crash");
  opts.add(backoff_max, "launcher.backoff-max", "launcher mode: largest restart delay");
  opts.add(stable_after, "launcher.stable-after",
           "launcher mode: uptime after which a crash counts as the first one again");
}

caf::expected<role> select_role(const role_options& opts, const runtime_config& rt,
                                const std::vector<node_spec>& nodes) {
  if (opts.launch && !opts.components.empty())
    return invalid("--launch and --component exclude each other: the launcher starts the "
                   "component processes itself");
  if (!opts.components.empty() && opts.nats_url.empty())
    return invalid("--component needs --nats URL: the components of a graph find each other "
                   "through NATS");
  if (!opts.launch && opts.components.empty() && !opts.nats_url.empty())
    return invalid("--nats needs --component NAME (run some components here) or --launch "
                   "(run them all as local processes)");
  for (const auto& name : opts.components) {
    auto known = std::any_of(nodes.begin(), nodes.end(),
                             [&name](const node_spec& n) { return n.name == name; });
    if (!known) {
      std::string names;
      for (const auto& n : nodes)
        names += (names.empty() ? "" : ", ") + n.name;
      return invalid(fmt::format("--component: the graph has no component '{}' (it has: {})",
                                 name, names));
    }
  }
  if (rt.lease_ttl < min_lease_ttl)
    return invalid(fmt::format("--discovery.ttl must be at least {}ms, got {}ms",
                               min_lease_ttl.count(), rt.lease_ttl.count()));
  if (opts.launch) {
    if (opts.backoff_initial < std::chrono::milliseconds{10})
      return invalid("--launcher.backoff-initial must be at least 10ms");
    if (opts.backoff_max < opts.backoff_initial)
      return invalid("--launcher.backoff-max must not be below --launcher.backoff-initial");
    return role::launcher;
  }
  return opts.components.empty() ? role::embedded : role::component;
}

} // namespace dynamo::launch
