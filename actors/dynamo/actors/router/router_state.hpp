// Internal to the router (router.cpp, router_kv.cpp): the router actor's state and the helpers
// its two source files share. Not a public header.
#pragma once

#include "dynamo/actors/forward.hpp"
#include "dynamo/actors/router/policy.hpp"
#include "dynamo/actors/router/prefill_picker.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/lifecycle.hpp"
#include "dynamo/metrics.hpp"
#include "dynamo/plane/event.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dynamo::actors::detail {

using clock = std::chrono::steady_clock;

/// Where a request went and the load it adds there.
struct route {
  instance_id worker;
  uint64_t tokens = 0;
};

/// A request held by the load valve until a worker has room.
struct queued_request {
  generate_request req;
  token_sink_actor sink;
  caf::typed_response_promise<generate_summary> promise;
  clock::time_point deadline;
};

struct router_state {
  component_context ctx;
  router_config cfg;
  std::unique_ptr<routing_policy> policy;  // null for policy "kv"
  peer_set<generate_actor> workers;
  std::vector<worker_load> load;  // parallel to workers.entries()
  std::unordered_map<request_id, route> routes;
  forward_table forwards;
  std::optional<lease_id> lease;
  lifecycle life;
  caf::typed_response_promise<drain_report> drain_promise;
  bool drain_pending = false;
  uint64_t routed = 0;
  uint64_t rejected = 0;
  counter* m_requests = nullptr;
  counter* m_rejected = nullptr;
  histogram* m_decision = nullptr;
  // Disaggregated serving (edges to prefill components): which prefill worker each forwarded
  // request names.
  std::vector<std::string> worker_components;
  std::vector<std::string> prefill_components;
  prefill_picker prefill;
  // Policy "kv" only:
  std::unique_ptr<kv_routing> kv;
  kv_indexer_actor indexer;  // with KV events only
  std::unique_ptr<event_publisher> sync_pub;
  std::string sync_subject;
  std::unordered_map<request_id, first_token_tap_actor> taps;
  std::deque<queued_request> queue;
  uint64_t shed = 0;
  counter* m_shed = nullptr;
  gauge* m_queue = nullptr;
  static inline const char* name = "router";
};

using router_pointer = router_actor::stateful_pointer<router_state>;

/// The policy's name ("kv" or the simple policy's).
std::string_view policy_name(const router_state& st);

/// Adds a route's load to its worker (if the worker is still known).
void account(router_state& st, const route& r);

/// Names the prefill worker of `req` (req.prefill_worker) just before it is forwarded: the
/// live prefill instance with the fewest open assignments, 0 when none is live. Leaves `req`
/// unchanged when the router has no prefill components.
void assign_prefill(router_state& st, generate_request& req);

// -- router_kv.cpp ---------------------------------------------------------------------------

/// Sets up policy "kv": the routing state, the event ingester (linked to the router), replica
/// sync and the upkeep timer. Errors: those of the event plane.
caf::error init_kv(router_pointer self);

/// Routes `req` through the KV scheduler (never to `exclude`) and accounts it. Returns the
/// worker's index in st.workers, or nullopt without a candidate (logged).
std::optional<size_t> route_kv(router_pointer self, const generate_request& req, uint64_t tokens,
                               instance_id exclude);

/// Handles a new request under policy "kv": queues it in the valve when every worker is busy,
/// refuses it as overloaded when the queue is full, else forwards it through a first-token tap.
caf::typed_response_promise<generate_summary> generate_kv(router_pointer self,
                                                         generate_request req,
                                                         token_sink_actor sink);

/// A routed request settled: its KV load ends (replicas are told), its tap closes if it failed,
/// and the valve's queue may move.
void settle_kv(router_pointer self, request_id id, bool failed);

/// Request `id` stops counting as KV load (it is re-routed; its tap stays).
void untrack_kv(router_pointer self, request_id id);

/// Request `id` streamed its first token.
void first_token_kv(router_pointer self, request_id id);

/// Removes request `id` from the valve's queue, failing it as cancelled. False if not queued.
bool cancel_queued(router_pointer self, request_id id);

/// Fails every queued request with `err` (drain).
void fail_queue(router_pointer self, const caf::error& err);

/// Decides whether a joining worker may be routed to (KV block size and hash scheme); false
/// after logging why. Called before the peer set applies an up change.
bool accept_worker_kv(router_pointer self, const peer_change& change);

/// After the peer set applied `change`: keeps the KV state and the ingester in step with the
/// live workers (live = still in st.workers).
void sync_workers_kv(router_pointer self, const peer_change& change);

/// A live worker was suspended (unreachable) or resumed: it leaves or re-enters KV routing.
void suspend_kv(router_pointer self, instance_id id);
/// See suspend_kv.
void resume_kv(router_pointer self, instance_id id);

/// Applies encoded replica sync events.
void apply_sync_kv(router_pointer self, const std::string& payload);

/// Periodic upkeep: queue timeouts, expiry, gauges; re-arms the timer.
void tick_kv(router_pointer self);

/// Fills the KV fields of `s`.
void fill_stats_kv(router_pointer self, router_stats& s);

} // namespace dynamo::actors::detail
