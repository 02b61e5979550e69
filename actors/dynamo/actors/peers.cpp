#include "dynamo/actors/peers.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"

#include <caf/send.hpp>

namespace dynamo::actors {

caf::error watch_peers(component_context& ctx, const std::vector<std::string>& components,
                       caf::actor dest) {
  std::vector<watch_id> ids;
  auto& disc = ctx.rt->discovery();
  for (const auto& component : components) {
    auto prefix = ctx.rt->ns() + '/' + component + '/';
    auto id = disc.watch(prefix, [dest](const discovery_event& ev) {
      peer_change change;
      change.up = ev.type == discovery_event::kind::put;
      change.component = ev.record.component.component;
      change.instance = ev.record.instance.value;
      change.metadata = ev.record.metadata;
      caf::anon_send(dest, peer_atom::value, std::move(change));
    });
    if (!id) {
      for (auto w : ids)
        disc.unwatch(w);
      return std::move(id.error());
    }
    ids.push_back(*id);
  }
  dest->attach_functor([disc = ctx.rt->discovery_ptr(), ids](const caf::error&) {
    for (auto w : ids)
      disc->unwatch(w);
  });
  return caf::none;
}

caf::expected<lease_id> announce(component_context& ctx, caf::actor self,
                                 const std::string& endpoint,
                                 std::map<std::string, std::string> metadata) {
  auto addr = ctx.address(endpoint);
  if (auto err = ctx.rt->requests().serve(addr, self))
    return err;
  discovery_record rec;
  rec.component = ctx.id();
  rec.instance = ctx.instance;
  rec.metadata = std::move(metadata);
  if (auto rpc = ctx.rt->requests().advertised_address(); !rpc.empty())
    rec.metadata.insert_or_assign("rpc_address", std::move(rpc));
  auto lease = ctx.rt->discovery().register_instance(std::move(rec),
                                                     lease_options{ctx.rt->config().lease_ttl});
  if (!lease) {
    ctx.rt->requests().withdraw(addr);
    return std::move(lease.error());
  }
  self->attach_functor([disc = ctx.rt->discovery_ptr(), reqs = ctx.rt->requests_ptr(), l = *lease,
                        addr](const caf::error&) {
    static_cast<void>(disc->revoke(l));
    reqs->withdraw(addr);
  });
  return *lease;
}

caf::expected<lease_id> announce_registration(component_context& ctx, caf::actor self,
                                              const std::string& endpoint,
                                              instance_registration reg) {
  reg.endpoints.emplace(endpoint, 1);
  reg.rpc_address = ctx.rt->requests().advertised_address();
  return announce(ctx, std::move(self), endpoint, reg.to_metadata());
}

std::optional<instance_registration> peer_registration(const peer_change& change,
                                                       const logger_ptr& log) {
  auto reg = instance_registration::from_metadata(change.metadata);
  if (!reg) {
    log->warn("ignoring {} {:016x}: {}", change.component, change.instance, describe(reg.error()));
    return std::nullopt;
  }
  return std::move(*reg);
}

} // namespace dynamo::actors
