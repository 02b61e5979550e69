// Turning discovery into actor messages: a component watches the components it sends to and
// keeps a set of live peer handles, connected through the request plane.
#pragma once

#include "dynamo/component.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/request.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dynamo::actors {

/// A peer instance appeared (or changed metadata) or disappeared.
using peer_atom = caf::atom_constant<caf::atom("peer")>;

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
/// the replica in discovery with `metadata` (auto keep-alive). Both are withdrawn when `self`
/// terminates, however it ends. Returns the lease so that a drain can revoke it early.
caf::expected<lease_id> announce(component_context& ctx, caf::actor self,
                                 const std::string& endpoint,
                                 std::map<std::string, std::string> metadata);

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
  /// connect error for a peer that cannot be reached (the peer is then skipped).
  template <class Plane>
  caf::error apply(const peer_change& change, Plane& plane, const std::string& ns,
                   const std::string& endpoint) {
    auto pos = find(instance_id{change.instance});
    if (!change.up) {
      if (pos != entries_.end())
        entries_.erase(pos);
      return caf::none;
    }
    if (pos != entries_.end()) {
      pos->metadata = change.metadata;
      return caf::none;
    }
    instance_endpoint addr{endpoint_id{ns, change.component, endpoint},
                           instance_id{change.instance}};
    auto hdl = connect_as<Handle>(plane, addr);
    if (!hdl)
      return std::move(hdl.error());
    entries_.push_back(entry{change.component, instance_id{change.instance}, std::move(*hdl),
                             change.metadata});
    return caf::none;
  }

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
};

} // namespace dynamo::actors
