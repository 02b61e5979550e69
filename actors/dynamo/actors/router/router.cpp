#include "dynamo/actors/router/router.hpp"

#include "dynamo/actors/router/router_state.hpp"
#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::actors {

namespace detail {

std::string_view policy_name(const router_state& st) {
  return st.kv ? std::string_view{"kv"} : st.policy->name();
}

void account(router_state& st, const route& r) {
  for (auto& l : st.load)
    if (l.instance == r.worker) {
      ++l.active_requests;
      l.active_tokens += r.tokens;
    }
}

void assign_prefill(router_state& st, generate_request& req) {
  if (st.prefill_components.empty())
    return;
  auto pick = st.prefill.pick(req.id);
  req.prefill_worker = pick ? pick->value : 0;
  if (pick)
    st.ctx.log->debug("request {:016x}: prefill worker {:016x}", req.id, pick->value);
  else
    st.ctx.log->debug("request {:016x}: no live prefill worker; the decode worker decides",
                      req.id);
}

} // namespace detail

namespace {

using namespace detail;

/// Keeps st.load parallel to st.workers.entries() (same order), preserving counts by instance.
void sync_load(router_state& st) {
  std::vector<worker_load> next;
  next.reserve(st.workers.size());
  for (const auto& w : st.workers.entries()) {
    worker_load l{w.instance, 0, 0};
    for (const auto& old : st.load)
      if (old.instance == w.instance)
        l = old;
    next.push_back(l);
  }
  st.load = std::move(next);
}

worker_load* load_of(router_state& st, instance_id id) {
  for (auto& l : st.load)
    if (l.instance == id)
      return &l;
  return nullptr;
}

/// Removes a route's load from its worker (if the worker is still known).
void unaccount(router_state& st, const route& r) {
  if (auto* l = load_of(st, r.worker)) {
    if (l->active_requests > 0)
      --l->active_requests;
    l->active_tokens -= std::min(l->active_tokens, r.tokens);
  }
}

void release(router_pointer self, request_id id, bool failed) {
  auto& st = self->state;
  st.prefill.finish(id);
  auto i = st.routes.find(id);
  if (i == st.routes.end())
    return;
  unaccount(st, i->second);
  st.routes.erase(i);
  if (st.kv)
    settle_kv(self, id, failed);
  if (st.drain_pending && st.routes.empty()) {
    st.drain_pending = false;
    st.drain_promise.deliver(drain_report{true, 0});
    st.life.finish_stop();
    self->quit();
  }
}

/// Picks a worker for `req` (load `tokens`), skipping instance `exclude`, and accounts the
/// request to it. Returns the worker's index in st.workers, or nullopt without a candidate.
std::optional<size_t> route_to_worker(router_pointer self, const generate_request& req,
                                      uint64_t tokens, instance_id exclude = {}) {
  auto& st = self->state;
  if (st.kv)
    return route_kv(self, req, tokens, exclude);
  auto id = req.id;
  auto prompt_tokens = req.tokens.size();
  std::vector<worker_load> candidates;
  std::vector<size_t> index_of;
  for (size_t i = 0; i < st.load.size(); ++i)
    if (st.load[i].instance != exclude) {
      candidates.push_back(st.load[i]);
      index_of.push_back(i);
    }
  if (candidates.empty())
    return std::nullopt;
  auto t0 = clock::now();
  auto index = index_of[st.policy->pick(candidates, prompt_tokens)];
  st.m_decision->observe(std::chrono::duration<double>(clock::now() - t0).count());
  auto& r = st.routes[id] = route{st.workers.entries()[index].instance, tokens};
  account(st, r);
  return index;
}

/// Monitors the handle of live worker `id` so that a broken connection suspends it at once.
void monitor_worker(router_pointer self, instance_id id) {
  for (const auto& w : self->state.workers.entries())
    if (w.instance == id)
      self->monitor(w.handle);
}

/// Takes the worker whose handle `addr` terminated out of rotation (discovery may still list
/// it: a broken connection is seen before the lease expires) and schedules reconnect attempts.
void suspend_worker(router_pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto id = st.workers.suspend(addr);
  if (!id)
    return;
  sync_load(st);
  if (st.kv)
    suspend_kv(self, *id);
  st.ctx.log->warn("worker {:016x} unreachable: suspended ({} live); reconnecting in {} ms",
                   id->value, st.workers.size(), st.cfg.reconnect_delay.count());
  self->delayed_send(self, st.cfg.reconnect_delay, peer_retry_atom::value, id->value);
}

/// Re-routes request `id`, which never started at `failed`, to another worker (load moves with
/// it). A dead handle's worker is suspended first.
std::optional<generate_actor> reroute(router_pointer self, request_id id, const caf::error& err,
                                      const caf::actor_addr& failed) {
  auto& st = self->state;
  auto i = st.routes.find(id);
  if (i == st.routes.end())
    return std::nullopt;
  auto old = i->second;
  unaccount(st, old);
  st.routes.erase(i);
  if (err.category() == caf::atom("system")
      && err.code() == static_cast<uint8_t>(caf::sec::request_receiver_down))
    suspend_worker(self, failed);
  const auto* req = st.forwards.request_of(id);
  if (st.kv)
    untrack_kv(self, id); // its KV load moves with it
  auto index = req != nullptr ? route_to_worker(self, *req, old.tokens, old.worker)
                              : std::optional<size_t>{};
  if (!index) {
    // The request fails: restore its route, which the settle that follows releases once.
    account(st, old);
    st.routes[id] = old;
    return std::nullopt;
  }
  const auto& target = st.workers.entries()[*index];
  st.ctx.log->info("request {:016x} never started on worker {:016x} ({}); retrying on {:016x}",
                   id, old.worker.value, describe(err), target.instance.value);
  return target.handle;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// Applies a discovery change of a prefill component's instance (a malformed registration
/// counts as gone).
void apply_prefill_change(router_state& st, const peer_change& change) {
  bool up = change.up && peer_registration(change, st.ctx.log).has_value();
  auto known = st.prefill.instances().size();
  st.prefill.apply(instance_id{change.instance}, up);
  if (st.prefill.instances().size() != known)
    st.ctx.log->info("prefill worker {:016x} {} ({} live)", change.instance,
                     up ? "joined" : "left", st.prefill.instances().size());
}

caf::error register_router(router_pointer self) {
  auto& st = self->state;
  instance_registration reg;
  reg.extra = {{"interfaces", "generate"}, {"policy", std::string{policy_name(st)}}};
  auto lease = announce_registration(st.ctx, caf::actor_cast<caf::actor>(self), "generate",
                                     std::move(reg));
  if (!lease)
    return std::move(lease.error());
  st.lease = *lease;
  return caf::none;
}

caf::error init_router(router_pointer self) {
  auto& st = self->state;
  if (st.cfg.policy != "kv") {
    auto policy = make_policy(st.cfg.policy,
                              st.cfg.seed != 0 ? st.cfg.seed : st.ctx.instance.value);
    if (!policy)
      return std::move(policy.error());
    st.policy = std::move(*policy);
  }
  auto& reg = st.ctx.rt->metrics();
  label_set labels{{"dynamo_namespace", st.ctx.rt->ns()},
                   {"dynamo_component", st.ctx.name},
                   {"instance", st.ctx.instance.to_string()}};
  st.m_requests = &reg.get_counter("dynamo_component_router_requests_total",
                                   "requests routed to a worker", labels);
  st.m_rejected = &reg.get_counter("dynamo_component_router_rejected_total",
                                   "requests rejected (no worker, draining)", labels);
  st.m_decision = &reg.get_histogram("dynamo_router_overhead_scheduling_seconds",
                                     "time to pick a worker", exponential_buckets(1e-7, 4, 10),
                                     labels);
  if (st.cfg.policy == "kv")
    if (auto err = init_kv(self))
      return err;
  if (auto err = register_router(self))
    return err;
  st.worker_components = st.ctx.targets_for<worker_api>();
  st.prefill_components = st.ctx.targets_for<prefill_api>();
  auto watched = st.worker_components;
  for (const auto& c : st.prefill_components)
    if (!contains(watched, c))
      watched.push_back(c);
  if (auto err = watch_peers(st.ctx, watched, caf::actor_cast<caf::actor>(self)))
    return err;
  st.life.start();
  st.ctx.log->info("routing with policy '{}' to {}", policy_name(st),
                   fmt::join(st.worker_components, ", "));
  if (!st.prefill_components.empty())
    st.ctx.log->info("picking prefill workers among {}", fmt::join(st.prefill_components, ", "));
  return caf::none;
}

router_actor::behavior_type router_behavior(router_pointer self, component_context ctx,
                                            router_config cfg) {
  self->state.ctx = std::move(ctx);
  self->state.cfg = std::move(cfg);
  self->state.forwards = forward_table{
    [self](request_id id, caf::error& err) {
      release(self, id, static_cast<bool>(err));
      if (err && classify(err) == errc::disconnected)
        err = make_error(errc::disconnected, "the worker serving the request went away",
                         operator_detail(err));
    },
    [self](request_id id, const caf::error& err, const caf::actor_addr& failed) {
      return reroute(self, id, err, failed);
    }};
  self->set_down_handler([self](const caf::down_msg& down) {
    if (auto n = self->state.forwards.target_down(down); n > 0)
      self->state.ctx.log->warn("a worker terminated with {} request(s) in flight", n);
    suspend_worker(self, down.source);
  });
  if (auto err = init_router(self)) {
    // CAF 0.17 typed behaviors cannot be empty: quit, and return the behavior unused.
    self->state.ctx.log->error("cannot start: {}", describe(err));
    self->quit(err);
  }
  return {
    [self](generate_atom, generate_request& req,
           token_sink_actor& sink) -> caf::result<generate_summary> {
      auto& st = self->state;
      if (!st.life.accepting()) {
        st.m_rejected->inc();
        ++st.rejected;
        return make_error(errc::unavailable, "the router is shutting down");
      }
      if (st.workers.empty()) {
        st.m_rejected->inc();
        ++st.rejected;
        return make_error(errc::unavailable, "no worker is available",
                          fmt::format("router {} has no live worker", st.ctx.instance.to_string()));
      }
      if (st.kv)
        return generate_kv(self, std::move(req), std::move(sink));
      auto index = route_to_worker(self, req, req.tokens.size() + req.stop.max_tokens);
      const auto& target = st.workers.entries()[*index];
      ++st.routed;
      st.m_requests->inc();
      assign_prefill(st, req);
      return st.forwards.forward(self, target.handle, std::move(req), std::move(sink));
    },
    [self](cancel_atom, request_id id, cancel_kind kind) {
      auto& st = self->state;
      auto i = st.routes.find(id);
      if (i == st.routes.end()) {
        if (st.kv)
          cancel_queued(self, id);
        return;
      }
      for (const auto& w : st.workers.entries())
        if (w.instance == i->second.worker)
          self->send(w.handle, cancel_atom::value, id, kind);
    },
    [self](peer_atom, peer_change& change) {
      auto& st = self->state;
      if (contains(st.prefill_components, change.component)) {
        apply_prefill_change(st, change);
        if (!contains(st.worker_components, change.component))
          return;
      }
      // A worker whose registration is malformed is logged and treated as gone: nothing is
      // routed to a peer whose facts cannot be trusted.
      if (change.up && !peer_registration(change, st.ctx.log))
        change.up = false;
      // A KV-aware router refuses workers whose blocks it cannot match (logged as errors).
      if (change.up && st.kv && !accept_worker_kv(self, change))
        change.up = false;
      auto known = st.workers.size();
      if (auto err = st.workers.apply(change, st.ctx.rt->requests(), st.ctx.rt->ns(), "generate"))
        st.ctx.log->warn("cannot reach worker {:016x}: {}", change.instance, describe(err));
      if (st.workers.size() > known)
        monitor_worker(self, instance_id{change.instance});
      sync_load(st);
      if (st.kv)
        sync_workers_kv(self, change);
      st.ctx.log->info("worker {:016x} {} ({} live)", change.instance,
                       change.up ? "joined" : "left", st.workers.size());
    },
    [self](peer_retry_atom, uint64_t instance) {
      auto& st = self->state;
      auto err = st.workers.resume(instance_id{instance}, st.ctx.rt->requests(), st.ctx.rt->ns(),
                                   "generate");
      if (!err) {
        monitor_worker(self, instance_id{instance});
        sync_load(st);
        if (st.kv)
          resume_kv(self, instance_id{instance});
        st.ctx.log->info("worker {:016x} reachable again ({} live)", instance, st.workers.size());
      } else if (classify(err) != errc::not_found) {
        self->delayed_send(self, st.cfg.reconnect_delay, peer_retry_atom::value, instance);
      }
    },
    [self](stats_atom) -> caf::result<router_stats> {
      auto& st = self->state;
      router_stats s;
      s.policy = std::string{policy_name(st)};
      for (const auto& l : st.load) {
        s.workers.push_back(l.instance.value);
        s.active_requests.push_back(l.active_requests);
      }
      s.routed = st.routed;
      s.rejected = st.rejected;
      for (const auto& p : st.prefill.instances()) {
        s.prefill_workers.push_back(p.instance.value);
        s.prefill_active.push_back(p.active);
        s.prefill_assigned.push_back(p.assigned);
      }
      if (!st.kv)
        return s;
      fill_stats_kv(self, s);
      if (!st.indexer)
        return s;
      auto promise = self->make_response_promise<router_stats>();
      self->request(st.indexer, std::chrono::seconds{5}, stats_atom::value)
        .then(
          [promise, s](kv_ingest_stats& ingest) mutable {
            s.ingest = ingest;
            promise.deliver(std::move(s));
          },
          [promise, s](caf::error&) mutable { promise.deliver(std::move(s)); });
      return promise;
    },
    [self](first_token_atom, uint64_t id) { first_token_kv(self, id); },
    [self](router_sync_atom, std::string& payload) { apply_sync_kv(self, payload); },
    [self](router_tick_atom) { tick_kv(self); },
    [self](drain_atom, uint32_t) -> caf::result<drain_report> {
      auto& st = self->state;
      if (!st.life.begin_drain())
        return make_error(errc::invalid_request, "the router is already draining");
      if (st.lease)
        static_cast<void>(st.ctx.rt->discovery().revoke(*st.lease));
      if (st.kv)
        fail_queue(self, make_error(errc::unavailable, "the router is shutting down"));
      if (st.routes.empty()) {
        st.life.finish_stop();
        self->quit();
        return drain_report{true, 0};
      }
      // In-flight requests finish when their workers answer; the workers' own drain bound
      // limits how long that takes.
      st.drain_promise = self->make_response_promise<drain_report>();
      st.drain_pending = true;
      return st.drain_promise;
    },
  };
}

} // namespace

void router_config::bind(option_set& opts, const std::string& prefix) {
  opts.add(policy, prefix + ".policy",
           "routing policy: round-robin, random, least-loaded or kv (KV-cache aware)",
           "DYN_ROUTER_MODE");
  opts.add(seed, prefix + ".seed", "seed of the random and kv policies (0 = derived from instance id)");
  opts.add(reconnect_delay, prefix + ".reconnect-delay",
           "pause between reconnects to a worker whose connection broke (e.g. 500ms)");
  kv.bind(opts, prefix);
  opts.add(queue_limit, prefix + ".queue-limit",
           "KV policy: requests held while every worker is busy, then refused as overloaded "
           "(0 = refuse at once)");
  opts.add(queue_timeout, prefix + ".queue-timeout",
           "KV policy: longest wait for a worker with room before a request is refused");
  opts.add(replica_sync, prefix + ".replica-sync",
           "KV policy: share routing decisions with the other router replicas");
  opts.add(tick_interval, prefix + ".tick-interval",
           "KV policy: period of upkeep (queue timeouts, expiry of stale load)");
}

caf::actor router::spawn(component_context& ctx, const config& cfg) {
  return caf::actor_cast<caf::actor>(ctx.rt->system().spawn(router_behavior, ctx, cfg));
}

} // namespace dynamo::actors
