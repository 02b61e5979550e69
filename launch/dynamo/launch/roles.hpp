// The three roles of a graph binary, chosen by flags: embedded (everything in one process),
// component (some components against NATS and the Cap'n Proto request plane) and launcher
// (one local process per replica, supervised).
#pragma once

#include "dynamo/graph.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

class option_set;
struct runtime_config;

namespace launch {

/// How this process runs the graph.
enum class role : uint8_t {
  embedded,   ///< Every component in this process, in-process planes (the default).
  component,  ///< Only the components named by --component, distributed planes.
  launcher,   ///< No component here: a supervised child process per replica.
};

/// "embedded", "component", "launcher".
std::string_view to_string(role x) noexcept;

/// The flags that choose and configure the role (all listed by --help).
struct role_options {
  bool launch = false;                       ///< --launch: be the launcher.
  std::vector<std::string> components;       ///< --component A,B: run only these.
  std::string nats_url;                      ///< --nats: where discovery and events live.
  std::string rpc_listen = "127.0.0.1:0";    ///< --rpc.listen: this process's RPC server.
  std::string rpc_advertise;                 ///< --rpc.advertise: what peers dial instead.
  std::chrono::milliseconds summary_interval{30000}; ///< --launcher.summary-interval.
  std::chrono::milliseconds backoff_initial{500};    ///< --launcher.backoff-initial.
  std::chrono::milliseconds backoff_max{10000};      ///< --launcher.backoff-max.
  std::chrono::milliseconds stable_after{30000};     ///< --launcher.stable-after.

  /// Registers the fields with `opts` (keys "launch", "component", "nats", "rpc.*",
  /// "launcher.*"; env DYN_LAUNCH, DYN_COMPONENT, DYN_NATS_URL, DYN_RPC_LISTEN,
  /// DYN_RPC_ADVERTISE). Main thread, before parse.
  void bind(option_set& opts);
};

/// Picks the role from parsed options and checks that they fit together and the graph `nodes`.
/// Errors (invalid_request, message meant for the command line): --launch with --component;
/// --component without --nats; --nats without --component or --launch; a --component name
/// that is not a node; a discovery ttl under 100ms; a backoff under 10ms or a max below the
/// initial delay. Any thread.
caf::expected<role> select_role(const role_options& opts, const runtime_config& rt,
                                const std::vector<node_spec>& nodes);

} // namespace launch
} // namespace dynamo
