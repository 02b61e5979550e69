#include "dynamo/launch/plane_setup.hpp"

#include "dynamo/actors/wire/generate_binding.hpp"
#include "dynamo/actors/wire/kv_query_binding.hpp"
#include "dynamo/actors/wire/prefill_binding.hpp"
#include "dynamo/capnp/requests.hpp"
#include "dynamo/error.hpp"
#include "dynamo/nats/discovery.hpp"
#include "dynamo/nats/events.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/ucx/ucx_data.hpp"

#include <fmt/format.h>

namespace dynamo::launch {

binding_map default_bindings() {
  return {{"generate", actors::wire::generate_binding()},
          {"kv", actors::wire::kv_query_binding()},
          {"prefill", actors::wire::prefill_binding()}};
}

caf::expected<std::string> resolve_rpc_address(const discovery_plane& disc,
                                               const instance_endpoint& address) {
  auto owner = address.endpoint.owner();
  for (const auto& rec : disc.list(discovery_prefix(owner))) {
    if (rec.instance != address.instance)
      continue;
    auto i = rec.metadata.find(std::string{rpc_address_key});
    if (i == rec.metadata.end() || i->second.empty())
      return make_error(errc::not_found,
                        fmt::format("{} cannot be reached from other processes",
                                    address.to_string()),
                        fmt::format("its discovery record {} has no {}", rec.key(),
                                    rpc_address_key));
    return i->second;
  }
  return make_error(errc::not_found, fmt::format("no live instance serves {}", address.to_string()),
                    fmt::format("no discovery record under {} for instance {}",
                                discovery_prefix(owner), address.instance.to_string()));
}

caf::expected<plane_backends> make_distributed_backends(const distributed_settings& settings) {
  if (settings.bindings.empty())
    return make_error(errc::invalid_request, "no interface bindings for the request plane");
  auto logger = [&settings](std::string_view component) {
    return settings.logs != nullptr ? settings.logs->make(component, "nats")
                                    : default_logger(component, "nats");
  };
  nats::connection_options conn;
  conn.url = settings.nats_url;
  conn.name = settings.connection_name;
  conn.timeout = settings.timeout;
  nats::discovery_options disc_opts;
  disc_opts.connection = conn;
  disc_opts.connection.log = logger("discovery");
  auto disc = nats::make_discovery(std::move(disc_opts));
  if (!disc)
    return std::move(disc.error());
  nats::event_options ev_opts;
  ev_opts.connection = conn;
  ev_opts.connection.log = logger("events");
  auto events = nats::make_events(std::move(ev_opts));
  if (!events)
    return std::move(events.error());
  plane_backends result;
  result.discovery = std::shared_ptr<discovery_plane>{std::move(*disc)};
  result.events = std::shared_ptr<event_plane>{std::move(*events)};
  capnp::request_options req;
  req.listen = settings.rpc_listen;
  req.advertise = settings.rpc_advertise;
  req.bindings = settings.bindings;
  req.connect_timeout = settings.timeout;
  req.log = settings.logs != nullptr ? settings.logs->make("requests", "capnp")
                                     : default_logger("requests", "capnp");
  // The resolver keeps the discovery plane alive for as long as the request plane lives.
  req.resolve = [disc = result.discovery](const instance_endpoint& address) {
    return resolve_rpc_address(*disc, address);
  };
  result.requests = [req = std::move(req)](caf::actor_system& sys) {
    return capnp::make_requests(sys, req);
  };
  // Data-plane agents over UCX (runtime::make ignores this for --runtime.data-backend inproc).
  auto data_log = settings.logs != nullptr ? settings.logs->make("data", "ucx")
                                           : default_logger("data", "ucx");
  result.data_agents = [data_log](std::string agent_name) {
    ucx::ucx_options opts;
    opts.agent = std::move(agent_name);
    opts.log = data_log;
    return ucx::make_ucx_agent(std::move(opts));
  };
  return result;
}

} // namespace dynamo::launch
