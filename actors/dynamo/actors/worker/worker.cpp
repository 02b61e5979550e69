#include "dynamo/actors/worker/worker.hpp"

#include "dynamo/actors/peers.hpp"
#include "dynamo/actors/worker/remote_prefill.hpp"
#include "dynamo/actors/worker/worker_state.hpp"

#include "dynamo/config.hpp"
#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/kv_router/event_codec.hpp"
#include "dynamo/metrics.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>

#include <optional>
#include <unordered_map>

namespace dynamo::actors {

namespace detail {

namespace {

using clock = worker_clock;

/// Below this, the next step is run by a plain message instead of a timer.
constexpr auto min_timer_delay = std::chrono::microseconds{20};

/// A batch of this worker's KV events (tier: the engine's device memory).
kv_router::event_batch make_kv_batch(const worker_state& st, std::vector<engine::kv_event> events) {
  return kv_router::event_batch{st.ctx.instance.value, st.kv_block_size,
                                kv_router::storage_tier::device, std::move(events)};
}

} // namespace

void publish_load(worker_pointer self, bool force) {
  auto& st = self->state;
  auto now = clock::now();
  if (!force && now - st.last_load_publish < st.cfg.load_interval)
    return;
  st.last_load_publish = now;
  auto stats = st.engine->stats();
  st.m.kv_active->set(static_cast<double>(stats.active_kv_blocks));
  st.m.kv_cached->set(static_cast<double>(stats.cached_kv_blocks));
  st.m.waiting->set(static_cast<double>(stats.waiting_sequences));
  if (st.publisher) {
    auto res = st.publisher->publish(load_subject(st.ctx.id()),
                                     encode_load(st.ctx.instance.value, stats, st.active.size()));
    if (!res)
      st.ctx.log->warn("cannot publish load: {}", describe(res.error()));
  }
}

/// Publishes the events the engine emitted since the last flush and keeps them for replays.
void flush_kv_events(worker_pointer self) {
  auto& st = self->state;
  if (st.kv_batch.empty())
    return;
  for (const auto& ev : st.kv_batch)
    st.kv_history->append(ev);
  auto batch = make_kv_batch(st, std::exchange(st.kv_batch, {}));
  if (!st.publisher)
    return;
  auto res = st.publisher->publish(kv_events_subject(st.ctx.id()), kv_router::encode_batch(batch));
  if (!res)
    st.ctx.log->warn("cannot publish KV events {}..{}: {}", batch.events.front().event_id,
                     batch.events.back().event_id, describe(res.error()));
}

namespace {

/// Answers a KV query: the published events after `after` while the history still holds them
/// all, else a dump of the engine's prefix cache as of the newest published event.
caf::result<kv_replay> answer_kv_query(worker_pointer self, uint64_t after, bool force_dump) {
  auto& st = self->state;
  // Events the engine emitted but the worker did not publish yet are published first, so that
  // a dump reflects exactly the events up to last_event_id.
  flush_kv_events(self);
  kv_replay reply;
  reply.last_event_id = st.kv_history->last_event_id();
  std::optional<std::vector<engine::kv_event>> range;
  if (!force_dump)
    range = st.kv_history->since(after);
  if (range && range->size() <= kv_router::max_events_per_batch) {
    reply.batch = kv_router::encode_batch(make_kv_batch(st, std::move(*range)));
    st.ctx.log->debug("KV query after event {}: replaying up to event {}", after,
                      reply.last_event_id);
    return reply;
  }
  auto dump = st.engine->kv_snapshot();
  if (dump.size() > kv_router::max_events_per_batch)
    return make_error(errc::internal, "the worker's KV dump is too large to send",
                      fmt::format("{} stored events exceed the batch limit of {}", dump.size(),
                                  kv_router::max_events_per_batch));
  reply.full_dump = true;
  st.ctx.log->debug("KV query after event {}{}: full dump of {} chain(s) as of event {}", after,
                    force_dump ? " (forced)" : "", dump.size(), reply.last_event_id);
  reply.batch = kv_router::encode_batch(make_kv_batch(st, std::move(dump)));
  return reply;
}

} // namespace

void finish_drain_if_idle(worker_pointer self) {
  auto& st = self->state;
  if (!st.drain_pending || !st.active.empty() || (st.decode && !st.decode->awaiting.empty()))
    return;
  st.drain_pending = false;
  st.drain_promise.deliver(drain_report{true, 0});
  st.life.finish_stop();
  self->quit();
}

namespace {

/// Forgets a request and stops watching its sink when no other request uses it.
void erase_request(worker_pointer self,
                   std::unordered_map<request_id, active_request>::iterator pos) {
  auto& st = self->state;
  auto addr = pos->second.sink.address();
  st.active.erase(pos);
  auto ref = st.sink_refs.find(addr);
  if (ref != st.sink_refs.end() && --ref->second == 0) {
    st.sink_refs.erase(ref);
    self->demonitor(addr);
  }
}

void complete(worker_pointer self, request_id id, active_request& req, engine::finish_reason why) {
  auto& st = self->state;
  auto elapsed = std::chrono::duration<double>(clock::now() - req.started).count();
  st.m.duration->observe(elapsed);
  st.m.inflight->dec();
  generate_summary summary{st.ctx.instance.value, req.prompt_tokens, req.cached_prompt_tokens,
                           req.completion_tokens, why};
  self->send(req.sink, stream_end_atom::value, id);
  req.promise.deliver(summary);
}

} // namespace

void fail_request(worker_pointer self, request_id id, const caf::error& err) {
  auto& st = self->state;
  auto i = st.active.find(id);
  if (i == st.active.end())
    return;
  st.m.errors->inc();
  st.m.inflight->dec();
  if (classify(err) != errc::cancelled)
    st.ctx.log->warn("request {:016x} failed: {}", id, describe(err));
  self->send(i->second.sink, stream_fail_atom::value, id, err);
  i->second.promise.deliver(err);
  erase_request(self, i);
}

caf::error admit_local(worker_pointer self, const generate_request& req) {
  return self->state.engine->admit(
    engine::sequence_request{req.id, req.tokens, req.sampling, req.stop});
}

void schedule_step(worker_pointer self) {
  auto& st = self->state;
  if (st.stepping || !st.engine->has_work())
    return;
  st.stepping = true;
  st.pending = st.engine->step();
  auto seq = ++st.step_seq;
  if (st.pending.delay < min_timer_delay)
    self->send(self, step_atom::value, seq);
  else
    self->delayed_send(self, st.pending.delay, step_atom::value, seq);
}

namespace {

void deliver_step(worker_pointer self) {
  auto& st = self->state;
  st.stepping = false;
  auto outputs = std::move(st.pending.outputs);
  st.pending.outputs.clear();
  for (auto& out : outputs) {
    auto i = st.active.find(out.id);
    if (i == st.active.end())
      continue; // cancelled while the step was in flight
    auto& req = i->second;
    req.prompt_tokens = out.prompt_tokens;
    req.cached_prompt_tokens = out.cached_prompt_tokens;
    req.completion_tokens += static_cast<uint32_t>(out.tokens.size());
    if (out.finish == engine::finish_reason::error) {
      fail_request(self, out.id,
                   make_error(errc::invalid_request, "the request cannot be served by this worker",
                              out.error_detail));
      continue;
    }
    if (!out.tokens.empty() || out.finish != engine::finish_reason::none) {
      token_chunk chunk{std::move(out.tokens), out.finish, out.prompt_tokens,
                        out.cached_prompt_tokens};
      self->send(req.sink, stream_item_atom::value, out.id, std::move(chunk));
    }
    if (out.finish != engine::finish_reason::none) {
      complete(self, out.id, req, out.finish);
      erase_request(self, i);
    }
  }
  flush_kv_events(self);
  publish_load(self, !st.engine->has_work());
  finish_drain_if_idle(self);
  schedule_step(self);
}

void cancel_request(worker_pointer self, request_id id, cancel_kind kind) {
  auto& st = self->state;
  auto i = st.active.find(id);
  if (i == st.active.end())
    return;
  // A prompt a prefill worker is computing keeps its blocks until that worker replied.
  if (!cancel_awaiting(self, id))
    st.engine->cancel(id);
  st.m.cancellations->inc();
  auto& req = i->second;
  if (kind == cancel_kind::kill) {
    st.m.inflight->dec();
    auto err = make_error(errc::cancelled, "the request was cancelled");
    self->send(req.sink, stream_fail_atom::value, id, err);
    req.promise.deliver(err);
  } else {
    self->send(req.sink, stream_item_atom::value, id,
               token_chunk{{}, engine::finish_reason::cancelled, req.prompt_tokens,
                           req.cached_prompt_tokens});
    complete(self, id, req, engine::finish_reason::cancelled);
  }
  erase_request(self, i);
  flush_kv_events(self);
  publish_load(self, !st.engine->has_work());
  finish_drain_if_idle(self);
}

void init_metrics(worker_pointer self) {
  auto& st = self->state;
  auto& reg = st.ctx.rt->metrics();
  label_set labels{{"dynamo_namespace", st.ctx.rt->ns()},
                   {"dynamo_component", st.ctx.name},
                   {"dynamo_endpoint", "generate"},
                   {"instance", st.ctx.instance.to_string()}};
  st.m.requests = &reg.get_counter("dynamo_component_requests_total",
                                   "requests received by the endpoint", labels);
  st.m.inflight = &reg.get_gauge("dynamo_component_inflight_requests",
                                 "requests currently being processed", labels);
  st.m.duration = &reg.get_histogram("dynamo_component_request_duration_seconds",
                                     "time from admission to the last token",
                                     latency_buckets_seconds(), labels);
  st.m.cancellations = &reg.get_counter("dynamo_component_cancellation_total",
                                        "requests cancelled by their caller", labels);
  st.m.errors = &reg.get_counter("dynamo_component_errors_total",
                                 "requests that failed in the worker", labels);
  label_set kv_labels{{"dynamo_namespace", st.ctx.rt->ns()},
                      {"dynamo_component", st.ctx.name},
                      {"instance", st.ctx.instance.to_string()}};
  st.m.kv_total = &reg.get_gauge("dynamo_component_kv_total_blocks", "KV blocks in the pool",
                                 kv_labels);
  st.m.kv_active = &reg.get_gauge("dynamo_component_kv_active_blocks",
                                  "KV blocks held by running sequences", kv_labels);
  st.m.kv_cached = &reg.get_gauge("dynamo_component_kv_cached_blocks",
                                  "free KV blocks still holding reusable prefixes", kv_labels);
  st.m.waiting = &reg.get_gauge("dynamo_component_waiting_requests",
                                "requests queued in the engine", kv_labels);
}

caf::error register_worker(worker_pointer self) {
  auto& st = self->state;
  auto stats = st.engine->stats();
  st.m.kv_total->set(static_cast<double>(stats.total_kv_blocks));
  instance_registration reg;
  reg.capacity.model = served_model_name(st.cfg);
  if (!st.cfg.model_path.empty())
    reg.capacity.model_path =
      std::filesystem::absolute(st.cfg.model_path).lexically_normal().string();
  reg.capacity.total_kv_blocks = stats.total_kv_blocks;
  // Readers reject a zero block size or batch bound: an engine that reports none omits them.
  if (stats.kv_block_size > 0)
    reg.capacity.kv_block_size = stats.kv_block_size;
  if (stats.max_sequences > 0)
    reg.capacity.max_num_seqs = stats.max_sequences;
  reg.capacity.hash_scheme = fmt::format("xxh3-64:seed={}", engine::block_hash_seed);
  reg.extra = {{"interfaces", "worker,generate"}, {"engine", st.engine->name()}};
  if (st.decode)
    reg.extra.emplace("role", "decode");
  if (st.kv)
    st.kv->announce(reg);
  // The kv endpoint is served first, so that a router that sees the registration can recover
  // at once. Without it the worker still serves (routers then cannot repair gaps).
  auto kv_address = st.ctx.address(kv_query_api::name);
  if (auto err = st.ctx.rt->requests().serve(kv_address, caf::actor_cast<caf::actor>(self))) {
    st.ctx.log->warn("cannot serve the kv endpoint, so routers cannot recover missed KV events "
                     "of this worker: {}",
                     describe(err));
  } else {
    reg.endpoints.emplace(kv_query_api::name, 1);
    self->attach_functor([requests = st.ctx.rt->requests_ptr(), kv_address](const caf::error&) {
      requests->withdraw(kv_address);
    });
  }
  auto lease = announce_registration(st.ctx, caf::actor_cast<caf::actor>(self), "generate",
                                     std::move(reg));
  if (!lease)
    return std::move(lease.error());
  st.lease = *lease;
  return caf::none;
}

worker_actor::behavior_type worker_behavior(worker_pointer self, component_context ctx,
                                            worker_config cfg,
                                            std::shared_ptr<engine::engine> engine,
                                            std::shared_ptr<kv_data> kv) {
  auto& state = self->state;
  state.ctx = std::move(ctx);
  state.cfg = std::move(cfg);
  state.kv = std::move(kv);
  state.engine = std::move(engine);
  state.kv_history.emplace(state.cfg.kv_event_history);
  state.kv_block_size = state.engine->stats().kv_block_size;
  init_metrics(self);
  state.engine->set_kv_event_sink(
    [self](const engine::kv_event& ev) { self->state.kv_batch.push_back(ev); });
  state.publisher = state.ctx.rt->events().make_publisher(state.ctx.instance.to_string());
  auto start_err = state.kv ? init_decode(self) : caf::error{};
  if (!start_err)
    start_err = register_worker(self);
  if (!start_err && state.decode)
    start_err = watch_prefill_peers(self);
  if (start_err) {
    // CAF 0.17 typed behaviors cannot be empty: quit, and return the behavior unused.
    state.ctx.log->error("cannot start: {}", describe(start_err));
    self->quit(start_err);
  } else {
    state.life.start();
    publish_load(self, true);
    state.ctx.log->info("serving model '{}' with engine '{}' ({} KV blocks of {} tokens)",
                        served_model_name(state.cfg), state.engine->name(),
                        state.engine->stats().total_kv_blocks, state.engine->stats().kv_block_size);
  }
  self->set_down_handler([self](const caf::down_msg& down) {
    if (prefill_peer_down(self, down.source))
      return;
    // A sink that terminated can no longer receive tokens: drop its requests.
    std::vector<request_id> orphans;
    for (const auto& [id, req] : self->state.active)
      if (req.sink.address() == down.source)
        orphans.push_back(id);
    for (auto id : orphans)
      cancel_request(self, id, cancel_kind::kill);
  });
  return {
    [self](generate_atom, generate_request& req,
           token_sink_actor& sink) -> caf::result<generate_summary> {
      auto& st = self->state;
      st.m.requests->inc();
      if (!st.life.accepting())
        return make_error(errc::unavailable, "the worker is shutting down");
      if (!sink)
        return make_error(errc::invalid_request, "generate request without a sink");
      if (req.deadline_unix_ms != 0
          && std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
                 .count()
               >= req.deadline_unix_ms)
        return make_error(errc::deadline_exceeded,
                          "the request's deadline passed before admission");
      if (st.active.count(req.id) != 0 || (st.decode && st.decode->awaiting.count(req.id) != 0))
        return make_error(errc::invalid_request, "duplicate request id",
                          fmt::format("request {:016x} is already running", req.id));
      if (auto err = st.decode ? admit_decode(self, req) : admit_local(self, req))
        return err;
      auto promise = self->make_response_promise<generate_summary>();
      if (st.sink_refs[sink.address()]++ == 0)
        self->monitor(sink);
      active_request entry;
      entry.sink = std::move(sink);
      entry.promise = promise;
      entry.started = clock::now();
      st.active.emplace(req.id, std::move(entry));
      st.m.inflight->inc();
      schedule_step(self);
      return promise;
    },
    [self](cancel_atom, request_id id, cancel_kind kind) { cancel_request(self, id, kind); },
    [self](kv_query_atom, uint64_t after_event_id, bool force_dump) -> caf::result<kv_replay> {
      return answer_kv_query(self, after_event_id, force_dump);
    },
    [self](stats_atom) -> worker_stats {
      auto& st = self->state;
      auto es = st.engine->stats();
      worker_stats s;
      s.active_requests = st.active.size();
      s.active_kv_blocks = es.active_kv_blocks;
      s.cached_kv_blocks = es.cached_kv_blocks;
      s.held_kv_blocks = es.held_kv_blocks;
      s.awaiting_kv_sequences = es.awaiting_kv_sequences;
      s.waiting_sequences = es.waiting_sequences;
      s.running_sequences = es.running_sequences;
      if (st.kv && st.kv->agent)
        s.data_in_flight = st.kv->agent->in_flight();
      fill_decode_stats(st, s);
      return s;
    },
    [self](peer_atom, peer_change& change) { on_prefill_peer(self, change); },
    [self](peer_retry_atom, uint64_t instance) { on_prefill_retry(self, instance); },
    [self](remote_due_atom, request_id id, uint64_t attempt) { on_remote_due(self, id, attempt); },
    [self](step_atom, uint64_t seq) {
      if (seq == self->state.step_seq && self->state.stepping)
        deliver_step(self);
    },
    [self](drain_atom, uint32_t timeout_ms) -> caf::result<drain_report> {
      auto& st = self->state;
      if (!st.life.begin_drain())
        return make_error(errc::invalid_request, "the worker is already draining");
      // Leave discovery first so that routers stop sending, then finish what is in flight.
      if (st.lease)
        static_cast<void>(st.ctx.rt->discovery().revoke(*st.lease));
      st.drain_promise = self->make_response_promise<drain_report>();
      st.drain_pending = true;
      self->delayed_send(self, std::chrono::milliseconds{timeout_ms}, drain_to_atom::value);
      auto promise = st.drain_promise;
      finish_drain_if_idle(self);
      return promise;
    },
    [self](drain_to_atom) {
      auto& st = self->state;
      if (!st.drain_pending)
        return;
      auto abandoned = static_cast<uint32_t>(st.active.size());
      std::vector<request_id> ids;
      for (const auto& entry : st.active)
        ids.push_back(entry.first);
      st.drain_pending = false;
      for (auto id : ids)
        cancel_request(self, id, cancel_kind::kill);
      st.drain_promise.deliver(drain_report{abandoned == 0, abandoned});
      st.life.finish_stop();
      self->quit();
    },
  };
}

worker_actor spawn_with(component_context& ctx, const worker_config& cfg,
                        std::unique_ptr<engine::engine> engine, std::shared_ptr<kv_data> kv) {
  std::shared_ptr<engine::engine> shared{std::move(engine)};
  if (shared->computes())
    return ctx.rt->system().spawn<caf::detached>(worker_behavior, ctx, cfg, shared,
                                                 std::move(kv));
  return ctx.rt->system().spawn(worker_behavior, ctx, cfg, shared, std::move(kv));
}

} // namespace

} // namespace detail

worker_actor spawn_worker(component_context& ctx, const worker_config& cfg,
                          std::unique_ptr<engine::engine> engine) {
  return detail::spawn_with(ctx, cfg, std::move(engine), nullptr);
}

worker_actor spawn_decode_worker(component_context& ctx, const worker_config& cfg,
                                 std::unique_ptr<engine::engine> engine,
                                 std::shared_ptr<kv_data> data) {
  if (!data)
    on_internal_error("spawn_decode_worker without a data-plane agent");
  return detail::spawn_with(ctx, cfg, std::move(engine), std::move(data));
}

namespace {

std::optional<worker_config> checked_config(component_context& ctx, const worker_config& given) {
  auto cfg = resolve_model_path(given);
  if (cfg.kv_event_history == 0) {
    ctx.log->error("invalid kv-event-history 0: the worker must keep at least one KV event");
    return std::nullopt;
  }
  return cfg;
}

caf::actor spawn_with_engine(component_context& ctx, const worker_config& given) {
  auto checked = checked_config(ctx, given);
  if (!checked)
    return {};
  const auto& cfg = *checked;
  auto engine = make_engine(cfg, ctx.log);
  if (!engine) {
    ctx.log->error("cannot start the {} engine: {}", cfg.engine, describe(engine.error()));
    return {};
  }
  return caf::actor_cast<caf::actor>(spawn_worker(ctx, cfg, std::move(*engine)));
}

} // namespace

caf::actor aggregated_worker::spawn(component_context& ctx, const config& cfg) {
  return spawn_with_engine(ctx, cfg);
}

caf::actor mocker_worker::spawn(component_context& ctx, const config& cfg) {
  auto mocker_cfg = cfg;
  mocker_cfg.engine = "mocker";
  return spawn_with_engine(ctx, mocker_cfg);
}

caf::actor decode_worker::spawn(component_context& ctx, const config& given) {
  auto checked = checked_config(ctx, given);
  if (!checked)
    return {};
  const auto& cfg = *checked;
  if (auto err = disagg::validate(cfg.disagg)) {
    ctx.log->error("invalid disaggregation settings: {}", describe(err));
    return {};
  }
  auto data = make_kv_data(*ctx.rt, ctx.name + '/' + ctx.instance.to_string());
  if (!data) {
    ctx.log->error("cannot make the data-plane agent: {}", describe(data.error()));
    return {};
  }
  auto engine = make_engine(cfg, ctx.log, pool_provider(*data));
  if (!engine) {
    ctx.log->error("cannot start the {} engine: {}", cfg.engine, describe(engine.error()));
    return {};
  }
  if (auto err = attach_engine(**data, **engine, (*engine)->stats().kv_block_size)) {
    ctx.log->error("cannot attach the engine's KV pool to the data plane: {}", describe(err));
    return {};
  }
  return caf::actor_cast<caf::actor>(
    spawn_decode_worker(ctx, cfg, std::move(*engine), std::move(*data)));
}

} // namespace dynamo::actors
