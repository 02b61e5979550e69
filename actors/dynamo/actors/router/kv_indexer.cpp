#include "dynamo/actors/router/kv_indexer.hpp"

#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/error.hpp"
#include "dynamo/kv_router/event_codec.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <unordered_map>

namespace dynamo::actors {

namespace {

/// How one worker's event stream stands.
struct worker_stream {
  std::string component;
  kv_query_actor handle;           // its "kv" endpoint; invalid if it serves none
  uint64_t last_applied = 0;       // newest event id reflected in the index
  bool recovering = false;         // a query is in flight; batches wait in `buffered`
  uint64_t attempt = 0;            // id of the query in flight (stale answers are ignored)
  bool want_dump = false;          // the next query asks for a full dump
  bool overflowed = false;         // buffered batches were dropped: a dump is needed
  std::deque<kv_router::event_batch> buffered;
};

struct indexer_state {
  component_context ctx;
  kv_indexer_config cfg;
  std::shared_ptr<kv_router::prefix_index> index;
  std::unordered_map<uint64_t, worker_stream> workers;
  kv_ingest_stats stats;
  uint64_t next_attempt = 0;
  static inline const char* name = "kv_indexer";
};

using indexer_pointer = kv_indexer_actor::stateful_pointer<indexer_state>;

void start_recovery(indexer_pointer self, uint64_t worker);

/// Applies events of `worker` in order from the stream position; a gap or an event the index
/// cannot place starts a recovery. Returns false when a recovery started (the rest of the
/// batch is then buffered by the caller).
bool apply_events(indexer_pointer self, uint64_t worker, worker_stream& ws,
                  const std::vector<engine::kv_event>& events, kv_router::storage_tier tier,
                  size_t& consumed) {
  auto& st = self->state;
  for (consumed = 0; consumed < events.size(); ++consumed) {
    const auto& ev = events[consumed];
    if (ev.event_id <= ws.last_applied) {
      ++st.stats.duplicates;
      continue;
    }
    if (ev.event_id != ws.last_applied + 1) {
      ++st.stats.gaps;
      if (!ws.handle) {
        // A worker without a kv endpoint cannot be repaired: continue from this event.
        st.ctx.log->warn("worker {:016x}: KV events {}..{} are missing and it serves no kv "
                         "endpoint: its index entries may be stale",
                         worker, ws.last_applied + 1, ev.event_id - 1);
        ws.last_applied = ev.event_id - 1;
      } else {
        st.ctx.log->warn("worker {:016x}: KV events {}..{} are missing; recovering", worker,
                         ws.last_applied + 1, ev.event_id - 1);
        start_recovery(self, worker);
        return false;
      }
    }
    auto status = st.index->apply(worker, ev, tier);
    ws.last_applied = ev.event_id;
    ++st.stats.events_applied;
    if (status == kv_router::apply_status::unknown_parent && ws.handle) {
      st.ctx.log->warn("worker {:016x}: KV event {} extends a block the index does not hold; "
                       "asking for a full dump",
                       worker, ev.event_id);
      ws.want_dump = true;
      start_recovery(self, worker);
      ++consumed;
      return false;
    }
  }
  return true;
}

/// Processes one batch of an accepted worker that is not recovering.
void ingest(indexer_pointer self, uint64_t worker, worker_stream& ws, kv_router::event_batch b) {
  size_t consumed = 0;
  if (apply_events(self, worker, ws, b.events, b.tier, consumed))
    return;
  // A recovery started: keep the unapplied rest for after its answer.
  b.events.erase(b.events.begin(), b.events.begin() + static_cast<ptrdiff_t>(consumed));
  if (!b.events.empty())
    ws.buffered.push_front(std::move(b));
}

/// Applies buffered batches after a recovery, until they run out or another recovery starts.
void drain_buffer(indexer_pointer self, uint64_t worker) {
  auto& st = self->state;
  auto i = st.workers.find(worker);
  while (i != st.workers.end() && !i->second.recovering && !i->second.buffered.empty()) {
    auto b = std::move(i->second.buffered.front());
    i->second.buffered.pop_front();
    ingest(self, worker, i->second, std::move(b));
    i = st.workers.find(worker);
  }
}

/// Applies a recovery answer; false if it does not continue the stream (ask for a dump).
bool apply_replay(indexer_pointer self, uint64_t worker, worker_stream& ws, const kv_replay& r) {
  auto& st = self->state;
  auto batch = kv_router::decode_batch(r.batch);
  if (!batch) {
    st.ctx.log->warn("worker {:016x}: malformed KV replay: {}", worker, describe(batch.error()));
    ++st.stats.rejected;
    return false;
  }
  if (r.full_dump) {
    st.index->clear_worker(worker);
    for (const auto& ev : batch->events)
      static_cast<void>(st.index->apply(worker, ev, batch->tier));
    st.stats.events_applied += batch->events.size();
    ws.last_applied = r.last_event_id;
    ++st.stats.dumps;
    st.ctx.log->debug("worker {:016x}: dump of {} stored event(s) as of event {}", worker,
                      batch->events.size(), r.last_event_id);
    return true;
  }
  ++st.stats.range_replays;
  for (const auto& ev : batch->events) {
    if (ev.event_id <= ws.last_applied)
      continue;
    if (ev.event_id != ws.last_applied + 1)
      return false;
    if (st.index->apply(worker, ev, batch->tier) == kv_router::apply_status::unknown_parent)
      return false;
    ws.last_applied = ev.event_id;
    ++st.stats.events_applied;
  }
  return ws.last_applied >= r.last_event_id;
}

void start_recovery(indexer_pointer self, uint64_t worker) {
  auto& st = self->state;
  auto i = st.workers.find(worker);
  if (i == st.workers.end())
    return;
  auto& ws = i->second;
  if (!ws.handle)
    return; // nothing to ask: apply_events continues past gaps for such workers
  ws.recovering = true;
  ws.attempt = ++st.next_attempt;
  bool dump = ws.want_dump || ws.overflowed;
  auto attempt = ws.attempt;
  self->request(ws.handle, std::chrono::seconds{10}, kv_query_atom::value, ws.last_applied, dump)
    .then(
      [self, worker, attempt](kv_replay& r) {
        auto& cur = self->state;
        auto j = cur.workers.find(worker);
        if (j == cur.workers.end() || j->second.attempt != attempt)
          return;
        auto& w = j->second;
        if (!apply_replay(self, worker, w, r)) {
          w.want_dump = true;
          start_recovery(self, worker);
          return;
        }
        w.recovering = false;
        w.want_dump = false;
        w.overflowed = false;
        drain_buffer(self, worker);
      },
      [self, worker, attempt](caf::error& err) {
        auto& cur = self->state;
        auto j = cur.workers.find(worker);
        if (j == cur.workers.end() || j->second.attempt != attempt)
          return;
        ++cur.stats.recovery_failures;
        cur.ctx.log->warn("worker {:016x}: KV recovery query failed ({}); retrying in {} ms",
                         worker, describe(err), cur.cfg.retry_delay.count());
        self->delayed_send(self, cur.cfg.retry_delay, kv_retry_atom::value, worker, attempt);
      });
}

caf::error subscribe_workers(indexer_pointer self) {
  auto& st = self->state;
  auto events = st.ctx.rt->events_ptr();
  std::vector<subscription_id> subs;
  auto handle = caf::actor_cast<caf::actor>(self);
  for (const auto& component : st.ctx.targets_for<worker_api>()) {
    auto subject = kv_events_subject(component_id{st.ctx.rt->ns(), component});
    auto id = events->subscribe(subject, [handle](const event_message& m) {
      caf::anon_send(handle, kv_batch_atom::value, m.payload);
    });
    if (!id) {
      for (auto s : subs)
        events->unsubscribe(s);
      return std::move(id.error());
    }
    subs.push_back(*id);
  }
  self->attach_functor([events, subs](const caf::error&) {
    for (auto s : subs)
      events->unsubscribe(s);
  });
  return caf::none;
}

kv_indexer_actor::behavior_type indexer_behavior(indexer_pointer self, component_context ctx,
                                                 kv_indexer_config cfg,
                                                 std::shared_ptr<kv_router::prefix_index> index) {
  self->state.ctx = std::move(ctx);
  self->state.cfg = cfg;
  self->state.index = std::move(index);
  if (auto err = subscribe_workers(self)) {
    self->state.ctx.log->error("cannot subscribe to KV events: {}", describe(err));
    self->quit(err);
  }
  return {
    [self](kv_batch_atom, std::string& payload) {
      auto& st = self->state;
      auto batch = kv_router::decode_batch(payload);
      if (!batch) {
        ++st.stats.rejected;
        st.ctx.log->warn("dropping a malformed KV event batch: {}", describe(batch.error()));
        return;
      }
      auto i = st.workers.find(batch->worker);
      if (i == st.workers.end()) {
        ++st.stats.unknown_worker;
        return;
      }
      ++st.stats.batches;
      if (st.cfg.block_size != 0 && batch->block_size != st.cfg.block_size) {
        ++st.stats.rejected;
        st.ctx.log->error("worker {:016x} publishes KV events for {}-token blocks; the router "
                          "uses {}: events refused",
                          batch->worker, batch->block_size, st.cfg.block_size);
        return;
      }
      auto& ws = i->second;
      if (ws.recovering) {
        if (ws.buffered.size() >= st.cfg.max_buffered) {
          ws.buffered.clear();
          ws.overflowed = true;
        }
        if (!ws.overflowed)
          ws.buffered.push_back(std::move(*batch));
        return;
      }
      ingest(self, batch->worker, ws, std::move(*batch));
    },
    [self](kv_worker_atom, peer_change& change) {
      auto& st = self->state;
      auto worker = change.instance;
      if (!change.up) {
        st.workers.erase(worker);
        st.index->remove_worker(worker);
        return;
      }
      if (st.workers.contains(worker))
        return;
      auto& ws = st.workers[worker];
      ws.component = change.component;
      instance_endpoint addr{endpoint_id{st.ctx.rt->ns(), change.component, kv_query_api::name},
                             instance_id{worker}};
      if (auto hdl = st.ctx.rt->requests().connect(addr))
        ws.handle = caf::actor_cast<kv_query_actor>(*hdl);
      else
        st.ctx.log->warn("worker {:016x} has no reachable kv endpoint ({}): no recovery",
                         worker, describe(hdl.error()));
      // A joining worker may hold blocks from before: start from a full dump.
      ws.want_dump = true;
      start_recovery(self, worker);
    },
    [self](kv_retry_atom, uint64_t worker, uint64_t attempt) {
      auto& st = self->state;
      auto i = st.workers.find(worker);
      if (i != st.workers.end() && i->second.attempt == attempt && i->second.recovering)
        start_recovery(self, worker);
    },
    [self](stats_atom) { return self->state.stats; },
  };
}

} // namespace

kv_indexer_actor spawn_kv_indexer(component_context& ctx, kv_indexer_config cfg,
                                  std::shared_ptr<kv_router::prefix_index> index) {
  return ctx.rt->system().spawn(indexer_behavior, ctx, cfg, std::move(index));
}

} // namespace dynamo::actors
