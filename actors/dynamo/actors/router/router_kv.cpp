// The router's policy "kv": KV-aware decisions, the load valve, first-token taps, the event
// ingester and replica sync, as actor glue around kv_routing.
#include "dynamo/actors/router/router_state.hpp"

#include "dynamo/error.hpp"
#include "dynamo/kv_router/sync_codec.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::actors::detail {

namespace {

void publish_sync(router_state& st, kv_router::sync_event ev) {
  if (!st.sync_pub)
    return;
  ev.router = st.ctx.instance.to_string();
  auto res = st.sync_pub->publish(st.sync_subject, kv_router::encode_sync({std::move(ev)}));
  if (!res)
    st.ctx.log->warn("cannot publish a replica sync event: {}", describe(res.error()));
}

/// Index of live worker `id` in st.workers, if live.
std::optional<size_t> live_index(const router_state& st, uint64_t id) {
  const auto& entries = st.workers.entries();
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].instance.value == id)
      return i;
  return std::nullopt;
}

/// Forwards `req` to a worker the KV scheduler picks, through a first-token tap. Fails the
/// promise when no worker can take it.
void dispatch(router_pointer self, generate_request req, token_sink_actor sink,
              caf::typed_response_promise<generate_summary> promise) {
  auto& st = self->state;
  auto tokens = req.tokens.size() + req.stop.max_tokens;
  auto index = route_kv(self, req, tokens, {});
  if (!index) {
    st.m_rejected->inc();
    ++st.rejected;
    promise.deliver(make_error(errc::unavailable, "no worker is available",
                               "the KV router found no routable worker"));
    return;
  }
  const auto& target = st.workers.entries()[*index];
  ++st.routed;
  st.m_requests->inc();
  auto id = req.id;
  auto tap = spawn_first_token_tap(st.ctx.rt->system(), std::move(sink),
                                   caf::actor_cast<caf::actor>(self), id);
  st.taps[id] = tap;
  assign_prefill(st, req);
  st.forwards.forward_with(self, target.handle, std::move(req),
                           caf::actor_cast<token_sink_actor>(tap), std::move(promise));
}

/// Moves queued requests to workers while some worker has room; refuses expired ones.
void drain_queue(router_pointer self) {
  auto& st = self->state;
  auto now = clock::now();
  while (!st.queue.empty()) {
    auto& front = st.queue.front();
    if (front.deadline <= now) {
      ++st.shed;
      st.m_shed->inc();
      front.promise.deliver(make_error(errc::overloaded,
                                       "every worker is busy; retry later",
                                       fmt::format("request {:016x} waited {} ms in the router's "
                                                   "queue",
                                                   front.req.id, st.cfg.queue_timeout.count())));
      st.queue.pop_front();
      continue;
    }
    if (st.kv->all_busy())
      break;
    auto next = std::move(front);
    st.queue.pop_front();
    dispatch(self, std::move(next.req), std::move(next.sink), std::move(next.promise));
  }
  st.m_queue->set(static_cast<double>(st.queue.size()));
}

void subscribe_sync(router_pointer self) {
  auto& st = self->state;
  st.sync_subject = st.ctx.rt->ns() + '.' + st.ctx.name + ".kv_sync";
  st.sync_pub = st.ctx.rt->events().make_publisher(st.ctx.instance.to_string());
  auto events = st.ctx.rt->events_ptr();
  auto handle = caf::actor_cast<caf::actor>(self);
  auto sub = events->subscribe(st.sync_subject, [handle](const event_message& m) {
    caf::anon_send(handle, router_sync_atom::value, m.payload);
  });
  if (!sub) {
    st.ctx.log->warn("replica sync is off: cannot subscribe to {}: {}", st.sync_subject,
                     describe(sub.error()));
    st.sync_pub.reset();
    return;
  }
  self->attach_functor([events, id = *sub](const caf::error&) { events->unsubscribe(id); });
}

} // namespace

caf::error init_kv(router_pointer self) {
  auto& st = self->state;
  if (auto err = validate(st.cfg.kv))
    return err;
  label_set labels{{"dynamo_namespace", st.ctx.rt->ns()},
                   {"dynamo_component", st.ctx.name},
                   {"instance", st.ctx.instance.to_string()}};
  auto seed = st.cfg.seed != 0 ? st.cfg.seed : st.ctx.instance.value;
  st.kv = std::make_unique<kv_routing>(st.cfg.kv, seed, st.ctx.instance.to_string(),
                                       st.ctx.rt->metrics(), labels, st.ctx.log);
  auto& reg = st.ctx.rt->metrics();
  st.m_shed = &reg.get_counter("dynamo_router_shed_total",
                               "requests refused as overloaded because every worker was busy",
                               labels);
  st.m_queue = &reg.get_gauge("dynamo_router_queue_pending_requests",
                              "requests waiting for a worker with room", labels);
  if (st.cfg.kv.use_events) {
    kv_indexer_config icfg;
    icfg.block_size = st.cfg.kv.block_size;
    st.indexer = spawn_kv_indexer(st.ctx, icfg, st.kv->index());
    // A failing ingester takes the router down (link); a router that stops for any reason,
    // normal included (which links do not propagate), stops the ingester.
    self->link_to(st.indexer);
    self->attach_functor([indexer = st.indexer](const caf::error&) {
      caf::anon_send_exit(indexer, caf::exit_reason::user_shutdown);
    });
  }
  if (st.cfg.replica_sync)
    subscribe_sync(self);
  self->delayed_send(self, st.cfg.tick_interval, router_tick_atom::value);
  return caf::none;
}

std::optional<size_t> route_kv(router_pointer self, const generate_request& req, uint64_t tokens,
                               instance_id exclude) {
  auto& st = self->state;
  std::vector<uint64_t> excluded;
  if (exclude.value != 0)
    excluded.push_back(exclude.value);
  auto t0 = clock::now();
  auto decision = st.kv->schedule(req, excluded);
  st.m_decision->observe(std::chrono::duration<double>(clock::now() - t0).count());
  if (!decision) {
    st.ctx.log->warn("cannot route request {:016x}: {}", req.id, describe(decision.error()));
    return std::nullopt;
  }
  auto index = live_index(st, decision->worker);
  if (!index) {
    // kv_routing follows the live set, so this is a bookkeeping bug: undo and report.
    st.kv->finish(req.id);
    on_internal_error(fmt::format("the KV scheduler chose worker {:016x}, which is not live",
                                  decision->worker));
    return std::nullopt;
  }
  auto& r = st.routes[req.id] = route{instance_id{decision->worker}, tokens};
  account(st, r);
  kv_router::sync_event ev;
  ev.type = kv_router::sync_event::kind::route;
  ev.request = req.id;
  ev.route = decision->tracked;
  publish_sync(st, std::move(ev));
  return index;
}

caf::typed_response_promise<generate_summary> generate_kv(router_pointer self,
                                                         generate_request req,
                                                         token_sink_actor sink) {
  auto& st = self->state;
  auto promise = self->make_response_promise<generate_summary>();
  drain_queue(self);
  if (st.queue.empty() && !st.kv->all_busy()) {
    dispatch(self, std::move(req), std::move(sink), promise);
    return promise;
  }
  if (st.queue.size() >= st.cfg.queue_limit) {
    ++st.shed;
    st.m_shed->inc();
    promise.deliver(make_error(errc::overloaded, "every worker is busy; retry later",
                               fmt::format("the router's queue holds {} request(s) (limit {})",
                                           st.queue.size(), st.cfg.queue_limit)));
    return promise;
  }
  st.queue.push_back(queued_request{std::move(req), std::move(sink), promise,
                                    clock::now() + st.cfg.queue_timeout});
  st.m_queue->set(static_cast<double>(st.queue.size()));
  return promise;
}

void untrack_kv(router_pointer self, request_id id) {
  auto& st = self->state;
  if (st.kv->finish(id)) {
    kv_router::sync_event ev;
    ev.type = kv_router::sync_event::kind::finish;
    ev.request = id;
    publish_sync(st, std::move(ev));
  }
}

void settle_kv(router_pointer self, request_id id, bool failed) {
  auto& st = self->state;
  untrack_kv(self, id);
  if (auto i = st.taps.find(id); i != st.taps.end()) {
    if (failed)
      self->send(i->second, tap_close_atom::value);
    st.taps.erase(i);
  }
  drain_queue(self);
}

void first_token_kv(router_pointer self, request_id id) {
  auto& st = self->state;
  if (!st.kv || !st.kv->prefill_done(id))
    return;
  kv_router::sync_event ev;
  ev.type = kv_router::sync_event::kind::prefill_done;
  ev.request = id;
  publish_sync(st, std::move(ev));
  drain_queue(self);
}

bool cancel_queued(router_pointer self, request_id id) {
  auto& st = self->state;
  auto i = std::find_if(st.queue.begin(), st.queue.end(),
                        [id](const queued_request& q) { return q.req.id == id; });
  if (i == st.queue.end())
    return false;
  i->promise.deliver(make_error(errc::cancelled, "the request was cancelled"));
  st.queue.erase(i);
  st.m_queue->set(static_cast<double>(st.queue.size()));
  return true;
}

void fail_queue(router_pointer self, const caf::error& err) {
  auto& st = self->state;
  for (auto& q : st.queue)
    q.promise.deliver(err);
  st.queue.clear();
  if (st.m_queue)
    st.m_queue->set(0);
}

bool accept_worker_kv(router_pointer self, const peer_change& change) {
  auto& st = self->state;
  if (st.kv->has_worker(change.instance))
    return true;
  auto reg = instance_registration::from_metadata(change.metadata);
  if (!reg)
    return false;
  if (auto err = st.kv->add_worker(change.instance, *reg)) {
    st.ctx.log->error("refusing worker {:016x}: {}", change.instance, describe(err));
    return false;
  }
  return true;
}

void sync_workers_kv(router_pointer self, const peer_change& change) {
  auto& st = self->state;
  bool live = live_index(st, change.instance).has_value();
  if (!live) {
    st.kv->remove_worker(change.instance);
    if (st.indexer && !change.up)
      self->send(st.indexer, kv_worker_atom::value, change);
    return;
  }
  if (st.indexer)
    self->send(st.indexer, kv_worker_atom::value, change);
  drain_queue(self);
}

void suspend_kv(router_pointer self, instance_id id) {
  self->state.kv->remove_worker(id.value);
}

void resume_kv(router_pointer self, instance_id id) {
  auto& st = self->state;
  auto index = live_index(st, id.value);
  if (!index)
    return;
  peer_change change{true, st.workers.entries()[*index].component, id.value,
                     st.workers.entries()[*index].metadata};
  if (!accept_worker_kv(self, change))
    return;
  drain_queue(self);
}

void apply_sync_kv(router_pointer self, const std::string& payload) {
  auto& st = self->state;
  if (!st.kv)
    return;
  auto events = kv_router::decode_sync(payload);
  if (!events) {
    st.ctx.log->warn("dropping malformed replica sync events: {}", describe(events.error()));
    return;
  }
  st.kv->apply_sync(*events);
  drain_queue(self);
}

void tick_kv(router_pointer self) {
  auto& st = self->state;
  if (!st.kv)
    return;
  st.kv->tick();
  drain_queue(self);
  self->delayed_send(self, st.cfg.tick_interval, router_tick_atom::value);
}

void fill_stats_kv(router_pointer self, router_stats& s) {
  auto& st = self->state;
  for (auto w : s.workers) {
    auto l = st.kv->load(w);
    s.prefill_tokens.push_back(l.prefill_tokens);
    s.decode_blocks.push_back(l.decode_blocks);
  }
  auto k = st.kv->stats();
  s.kv_decisions = k.decisions;
  s.kv_matched_blocks = k.matched_blocks;
  s.kv_prompt_blocks = k.prompt_blocks;
  s.indexed_blocks = k.indexed_blocks;
  s.queued = st.queue.size();
  s.shed = st.shed;
  s.rejected_workers = k.rejected_workers;
  s.sync_applied = k.sync_applied;
}

} // namespace dynamo::actors::detail
