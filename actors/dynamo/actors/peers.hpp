// Turning discovery into actor messages: a component watches the components it sends to and
// keeps a set of live peer handles, connected through the request plane.
#pragma once

#include "dynamo/component.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/plane/request.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::actors {

/// A peer instance appeared (or changed metadata) or disappeared.
using peer_atom = caf::atom_constant<caf::atom("peer")>;
/// Self message: try to reconnect a suspended peer (its instance id).
using peer_retry_atom = caf::atom_constant<caf::atom("peer_retry")>;

/// What a watcher learns about one peer instance.
struct peer_change {
  bool up = true;                                ///< false: the instance is gone.
  std::string component;
  uint64_t instance = 0;
  std::map<std::string, std::string> metadata;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_change& x) {
  return f(caf::meta::type_name("peer_change"), x.up, x.component, x.instance, x.metadata);
}

/// Watches `<ns>/<component>/` for each of `components` and sends (peer_atom, peer_change) to
/// `dest` for every put and removal (the current instances first). The watches end when `dest`
/// terminates. Errors from the discovery plane are returned as is.
caf::error watch_peers(component_context& ctx, const std::vector<std::string>& components,
                       caf::actor dest);

/// Serves `endpoint` of this replica on the request plane with `self` as handler and registers
/// the replica in discovery with `metadata` (auto keep-alive), adding "rpc_address" = the
/// request plane's advertised_address() when that is not empty. Both are withdrawn when `self`
/// terminates, however it ends. Returns the lease so that a drain can revoke it early. Errors:
/// those of serve() and register_instance(). Called from `self`'s own handlers or before it runs.
caf::expected<lease_id> announce(component_context& ctx, caf::actor self,
                                 const std::string& endpoint,
                                 std::map<std::string, std::string> metadata);

/// announce() with typed metadata: `reg` gains `endpoint` (at interface version 1 unless `reg`
/// names it already) and the request plane's advertised address. Same errors and threads.
/// (Not an overload: a braced map literal would convert to either parameter type.)
caf::expected<lease_id> announce_registration(component_context& ctx, caf::actor self,
                                              const std::string& endpoint,
                                              instance_registration reg);

/// Decodes the registration of a peer seen through watch_peers(); a malformed one is logged
/// (warning, naming the peer) through `log` and yields nullopt, so that the caller skips the
/// peer. Any thread.
std::optional<instance_registration> peer_registration(const peer_change& change,
                                                       const logger_ptr& log);

/// A live set of peers with typed handles. Owned by one actor; not thread-safe.
template <class Handle>
class peer_set {
public:
  struct entry {
    std::string component;
    instance_id instance;
    Handle handle;
    std::map<std::string, std::string> metadata;
  };

  /// Applies a change; connects new peers through `plane` at endpoint `endpoint`. Returns the
  /// connect error for a peer that cannot be reached (the peer is then skipped). A `put` for a
  /// suspended peer reconnects it; a removal also forgets a suspended peer.
  template <class Plane>
  caf::error apply(const peer_change& change, Plane& plane, const std::string& ns,
                   const std::string& endpoint) {
    auto pos = find(instance_id{change.instance});
    if (!change.up) {
      if (pos != entries_.end())
        entries_.erase(pos);
      suspended_.erase(change.instance);
      return caf::none;
    }
    if (pos != entries_.end()) {
      pos->metadata = change.metadata;
      return caf::none;
    }
    suspended_.erase(change.instance);
    instance_endpoint addr{endpoint_id{ns, change.component, endpoint},
                           instance_id{change.instance}};
    auto hdl = connect_as<Handle>(plane, addr);
    if (!hdl)
      return std::move(hdl.error());
    entries_.push_back(entry{change.component, instance_id{change.instance}, std::move(*hdl),
                             change.metadata});
    return caf::none;
  }

  /// Takes the peer whose handle is `addr` out of the live set because its handle terminated
  /// (for a remote peer: the connection broke) while discovery may still list it. Returns its
  /// instance, or nullopt when no live peer has that handle.
  std::optional<instance_id> suspend(const caf::actor_addr& addr) {
    for (auto i = entries_.begin(); i != entries_.end(); ++i)
      if (i->handle.address() == addr) {
        auto id = i->instance;
        suspended_[id.value] = peer_change{true, i->component, id.value, i->metadata};
        entries_.erase(i);
        return id;
      }
    return std::nullopt;
  }

  /// Reconnects a suspended peer. Returns not_found when `id` is not suspended (it came back or
  /// left discovery meanwhile), the connect error when it is still unreachable (it then stays
  /// suspended).
  template <class Plane>
  caf::error resume(instance_id id, Plane& plane, const std::string& ns,
                    const std::string& endpoint) {
    auto i = suspended_.find(id.value);
    if (i == suspended_.end())
      return make_error(errc::not_found, "the peer is not suspended");
    auto change = i->second;
    if (auto err = apply(change, plane, ns, endpoint)) {
      suspended_[id.value] = std::move(change);
      return err;
    }
    return caf::none;
  }

  /// True when `id` is suspended (listed in discovery, handle broken).
  bool is_suspended(instance_id id) const { return suspended_.contains(id.value); }

  /// The live peers, in arrival order.
  const std::vector<entry>& entries() const noexcept { return entries_; }
  /// Number of live peers.
  size_t size() const noexcept { return entries_.size(); }
  /// True without peers.
  bool empty() const noexcept { return entries_.empty(); }

private:
  typename std::vector<entry>::iterator find(instance_id id) {
    for (auto i = entries_.begin(); i != entries_.end(); ++i)
      if (i->instance == id)
        return i;
    return entries_.end();
  }
  std::vector<entry> entries_;
  std::map<uint64_t, peer_change> suspended_;
};

} // namespace dynamo::actors
