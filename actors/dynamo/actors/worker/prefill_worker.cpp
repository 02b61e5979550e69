#include "dynamo/actors/worker/prefill_worker.hpp"

#include "dynamo/actors/peers.hpp"
#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/lifecycle.hpp"
#include "dynamo/metrics.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

namespace dynamo::actors {

namespace {

using clock = std::chrono::steady_clock;

/// Below this, the next step is run by a plain message instead of a timer.
constexpr auto min_timer_delay = std::chrono::microseconds{20};

/// Decode replicas whose pools are remembered at most; beyond it the cache starts over.
constexpr size_t max_cached_peers = 4096;

enum class prefill_phase : uint8_t {
  computing,  ///< Queued or running in the engine.
  sending,    ///< Computed and held; its layers' transfers are in flight.
};

/// A remote prefill in progress.
struct prefill_job {
  caf::typed_response_promise<remote_prefill_result> promise;
  prefill_phase phase = prefill_phase::computing;
  std::pair<std::string, uint64_t> decode;  ///< The decode replica (component, instance).
  peer_pool peer;
  std::vector<uint32_t> blocks;  ///< The decode side's block table.
  uint32_t cached_tokens = 0;    ///< Decode-side cached prompt positions (not written).
  remote_prefill_result result;
  clock::time_point started;
  clock::time_point computed;
  uint32_t layers_pending = 0;   ///< Transfers whose on_done has not been handled yet.
  caf::error failure;            ///< The first failure; replied once nothing is in flight.
};

struct prefill_metrics {
  counter* requests = nullptr;
  gauge* inflight = nullptr;
  counter* errors = nullptr;
  counter* cancellations = nullptr;
  counter* transfer_bytes = nullptr;
  histogram* transfer_seconds = nullptr;
  histogram* queue_seconds = nullptr;
  histogram* service_seconds = nullptr;
  gauge* kv_active = nullptr;
  gauge* kv_held = nullptr;
};

struct prefill_state {
  component_context ctx;
  worker_config cfg;
  /// Declared before the engine so that the engine, whose pool lives in data's region, is
  /// destroyed first.
  std::shared_ptr<kv_data> data;
  std::shared_ptr<engine::engine> engine;
  std::map<std::pair<std::string, uint64_t>, peer_pool> peers;
  std::unordered_map<request_id, prefill_job> jobs;
  clock::time_point last_computed;  ///< The latest first token of any job (service times).
  bool stepping = false;
  uint64_t step_seq = 0;
  engine::step_result pending;
  std::optional<lease_id> lease;
  lifecycle life;
  caf::typed_response_promise<drain_report> drain_promise;
  bool drain_pending = false;
  uint32_t drain_abandoned = 0;
  /// Load reports on load_subject (operators, planners); null without an event plane.
  std::unique_ptr<event_publisher> publisher;
  clock::time_point last_load_publish;
  prefill_metrics m;
  static inline const char* name = "prefill_worker";
};

using prefill_pointer = prefill_worker_actor::stateful_pointer<prefill_state>;
using job_iterator = std::unordered_map<request_id, prefill_job>::iterator;

uint64_t micros_since(clock::time_point from) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - from).count());
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Updates the KV gauges and publishes the load (at most once per load_interval unless
/// `force`).
void publish_load(prefill_pointer self, bool force) {
  auto& st = self->state;
  auto now = clock::now();
  if (!force && now - st.last_load_publish < st.cfg.load_interval)
    return;
  st.last_load_publish = now;
  auto stats = st.engine->stats();
  st.m.kv_active->set(static_cast<double>(stats.active_kv_blocks));
  st.m.kv_held->set(static_cast<double>(stats.held_kv_blocks));
  if (!st.publisher)
    return;
  auto res = st.publisher->publish(load_subject(st.ctx.id()),
                                   encode_load(st.ctx.instance.value, stats, st.jobs.size()));
  if (!res)
    st.ctx.log->warn("cannot publish load: {}", describe(res.error()));
}

void finish_drain_if_idle(prefill_pointer self) {
  auto& st = self->state;
  if (!st.drain_pending || !st.jobs.empty())
    return;
  st.drain_pending = false;
  st.drain_promise.deliver(drain_report{st.drain_abandoned == 0, st.drain_abandoned});
  st.life.finish_stop();
  self->quit();
}

/// Ends a job whose transfers are all done: frees what the engine keeps for it (held blocks,
/// or a queued or running sequence) and replies its result or first failure.
void conclude(prefill_pointer self, job_iterator pos) {
  auto& st = self->state;
  auto id = pos->first;
  auto& job = pos->second;
  if (!st.engine->release_held(id))
    st.engine->cancel(id);
  if (job.failure) {
    if (classify(job.failure) != errc::cancelled)
      st.m.errors->inc();
    st.ctx.log->debug("remote prefill {:016x} failed: {}", id, describe(job.failure));
    job.promise.deliver(job.failure);
  } else {
    st.m.transfer_bytes->inc(static_cast<double>(job.result.bytes));
    st.m.transfer_seconds->observe(static_cast<double>(job.result.transfer_us) / 1e6);
    st.m.queue_seconds->observe(static_cast<double>(job.result.queue_us) / 1e6);
    st.m.service_seconds->observe(static_cast<double>(job.result.prefill_us) / 1e6);
    st.ctx.log->debug("remote prefill {:016x}: {} bytes to {}/{:016x} in {} us after {} us", id,
                      job.result.bytes, job.decode.first, job.decode.second,
                      job.result.transfer_us, job.result.prefill_us);
    job.promise.deliver(job.result);
  }
  st.jobs.erase(pos);
  st.m.inflight->dec();
  publish_load(self, st.jobs.empty());
  finish_drain_if_idle(self);
}

/// Records `err` as the job's failure (the first one wins) and ends the job at once unless
/// transfers are still in flight (then the last on_done ends it).
void fail(prefill_pointer self, job_iterator pos, caf::error err) {
  auto& job = pos->second;
  if (!job.failure)
    job.failure = std::move(err);
  if (job.layers_pending == 0)
    conclude(self, pos);
}

/// Forgets a decode replica's pool after a transfer showed it stale or gone.
void forget_peer_on(prefill_pointer self, const prefill_job& job, const caf::error& err) {
  auto code = classify(err);
  if (code == errc::not_found || code == errc::disconnected)
    self->state.peers.erase(job.decode);
}

/// The pool of decode replica `component`/`instance`, from the cache or its discovery record.
caf::expected<peer_pool> resolve_peer(prefill_pointer self, const std::string& component,
                                      uint64_t instance) {
  auto& st = self->state;
  if (!is_valid_name(component) || instance == 0)
    return make_error(errc::invalid_request, "the decode replica is malformed",
                      fmt::format("decode component '{}', instance {}", component, instance));
  auto key = std::make_pair(component, instance);
  if (auto i = st.peers.find(key); i != st.peers.end())
    return i->second;
  discovery_record probe{component_id{st.ctx.rt->ns(), component}, instance_id{instance}, {}};
  auto record_key = probe.key();
  const discovery_record* found = nullptr;
  auto records = st.ctx.rt->discovery().list(record_key);
  for (const auto& rec : records)
    if (rec.key() == record_key)
      found = &rec;
  if (found == nullptr)
    return make_error(errc::not_found, "the decode replica is unknown",
                      fmt::format("no discovery record {}", record_key));
  auto reg = instance_registration::from_metadata(found->metadata);
  if (!reg)
    return std::move(reg.error());
  auto pool = peer_pool_of(*reg);
  if (!pool)
    return std::move(pool.error());
  if (st.peers.size() >= max_cached_peers)
    st.peers.clear();
  st.peers.emplace(key, *pool);
  return pool;
}

/// Checks a request against this worker and the decode replica's pool before any compute.
caf::error check_request(prefill_pointer self, const remote_prefill_request& req,
                         const peer_pool& peer) {
  const auto& own = self->state.data->layout;
  if (peer.layout.layers != own.layers || peer.layout.region_bytes != own.region_bytes
      || peer.layout.block_size != own.block_size)
    return make_error(errc::invalid_request,
                      "the decode worker's KV layout differs from the prefill worker's",
                      fmt::format("decode {} vs prefill {}", disagg::encode_layout(peer.layout),
                                  disagg::encode_layout(own)));
  auto prompt = req.request.tokens.size();
  auto needed = (prompt + own.block_size - 1) / own.block_size;
  if (req.blocks.size() != needed)
    return make_error(errc::invalid_request,
                      "the decode worker's block table does not cover the prompt",
                      fmt::format("{} blocks for {} tokens of {} per block (need {})",
                                  req.blocks.size(), prompt, own.block_size, needed));
  for (auto block : req.blocks)
    if (block >= peer.layout.blocks)
      return make_error(errc::invalid_request,
                        "the decode worker's block table is out of its pool",
                        fmt::format("block {} of a pool of {}", block, peer.layout.blocks));
  if (req.cached_tokens > prompt)
    return make_error(errc::invalid_request, "more cached tokens than the prompt has",
                      fmt::format("{} cached of {}", req.cached_tokens, prompt));
  return caf::none;
}

/// Starts one write per layer of the job's held blocks into the decode replica's blocks.
void start_sending(prefill_pointer self, job_iterator pos) {
  auto& st = self->state;
  auto id = pos->first;
  auto& job = pos->second;
  job.phase = prefill_phase::sending;
  job.computed = clock::now();
  // Service time as in a FIFO single server: from arrival, or from the previous first token if
  // the worker was still busy with that prompt. Under load it stays the throughput instead of
  // growing with the queue (which would make decode workers send more prompts to a busy worker).
  auto served_from = std::max(job.started, st.last_computed);
  st.last_computed = job.computed;
  auto micros = [](clock::duration d) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  };
  job.result.prefill_us = micros(job.computed - served_from);
  job.result.queue_us = micros(served_from - job.started);
  auto held = st.engine->held_blocks(id);
  if (!held) {
    fail(self, pos,
         make_error(errc::internal, "the prefill worker lost the prompt's KV blocks",
                    describe(held.error())));
    return;
  }
  const auto& own = st.data->layout;
  auto plan = disagg::plan_transfer(own, held->blocks, job.peer.layout, job.blocks,
                                    job.cached_tokens / own.block_size);
  if (!plan) {
    fail(self, pos, std::move(plan.error()));
    return;
  }
  // The engines compute every layer in one step, so the layers' transfers overlap one another
  // (all in flight at once), not the compute.
  for (auto& layer : *plan) {
    auto bytes = layer.bytes;
    auto started = st.data->agent->transfer(
      transfer_direction::write, st.data->pool.descriptor.region_id, job.peer.region,
      std::move(layer.copies), [addr = self->address(), id](caf::error err) {
        // A backend thread: only a message reaches the actor.
        if (auto hdl = caf::actor_cast<caf::actor>(addr))
          caf::anon_send(hdl, prefill_sent_atom::value, id, std::move(err));
      });
    if (!started) {
      forget_peer_on(self, job, started.error());
      if (!job.failure)
        job.failure = std::move(started.error());
      break;
    }
    ++job.layers_pending;
    job.result.bytes += bytes;
  }
  if (job.layers_pending == 0)
    conclude(self, pos);
}

void schedule_step(prefill_pointer self) {
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

void deliver_step(prefill_pointer self) {
  auto& st = self->state;
  st.stepping = false;
  auto outputs = std::move(st.pending.outputs);
  st.pending.outputs.clear();
  for (auto& out : outputs) {
    auto pos = st.jobs.find(out.id);
    if (pos == st.jobs.end() || pos->second.phase != prefill_phase::computing)
      continue; // cancelled while the step was in flight
    if (out.finish == engine::finish_reason::error) {
      fail(self, pos,
           make_error(errc::invalid_request, "the request cannot be served by this worker",
                      out.error_detail));
      continue;
    }
    if (out.finish == engine::finish_reason::none)
      continue;
    if (out.tokens.empty()) {
      fail(self, pos,
           make_error(errc::internal, "the prefill ended without a first token",
                      fmt::format("finish reason '{}'", engine::to_string(out.finish))));
      continue;
    }
    pos->second.result.first_token = out.tokens.front();
    pos->second.result.prefill_cached_tokens = out.cached_prompt_tokens;
    start_sending(self, pos);
  }
  publish_load(self, false);
  schedule_step(self);
}

/// Stops job `id` with `err`: a computing one at once (engine cancel), a sending one once its
/// transfers are done (the decode side's blocks must not be reused while they are written).
void stop_job(prefill_pointer self, request_id id, caf::error err) {
  auto& st = self->state;
  auto pos = st.jobs.find(id);
  if (pos == st.jobs.end())
    return;
  if (pos->second.phase == prefill_phase::computing)
    st.engine->cancel(id);
  fail(self, pos, std::move(err));
}

caf::result<remote_prefill_result> start_job(prefill_pointer self, remote_prefill_request& req) {
  auto& st = self->state;
  auto id = req.request.id;
  if (!st.life.accepting())
    return make_error(errc::unavailable, "the prefill worker is shutting down");
  if (req.request.deadline_unix_ms != 0 && unix_now_ms() >= req.request.deadline_unix_ms)
    return make_error(errc::deadline_exceeded, "the request's deadline passed before admission");
  if (st.jobs.count(id) != 0)
    return make_error(errc::invalid_request, "duplicate request id",
                      fmt::format("remote prefill {:016x} is already running", id));
  if (req.request.tokens.empty())
    return make_error(errc::invalid_request, "empty prompt");
  auto peer = resolve_peer(self, req.decode_component, req.decode_instance);
  if (!peer)
    return std::move(peer.error());
  if (auto err = check_request(self, req, *peer))
    return err;
  engine::sequence_request seq{id, std::move(req.request.tokens), req.request.sampling,
                               req.request.stop, true};
  // One token, always emitted: whether it ends the sequence is the decode side's business.
  seq.stop.max_tokens = 1;
  seq.stop.stop_token_ids.clear();
  seq.stop.ignore_eos = true;
  if (auto err = st.engine->admit(std::move(seq)))
    return err;
  prefill_job job;
  job.promise = self->make_response_promise<remote_prefill_result>();
  job.decode = {std::move(req.decode_component), req.decode_instance};
  job.peer = std::move(*peer);
  job.blocks = std::move(req.blocks);
  job.cached_tokens = req.cached_tokens;
  job.result.prefill_worker = st.ctx.instance.value;
  job.started = clock::now();
  auto promise = job.promise;
  st.jobs.emplace(id, std::move(job));
  st.m.inflight->inc();
  publish_load(self, st.jobs.size() == 1);  // leaving idle is always reported
  if (req.request.deadline_unix_ms != 0)
    self->delayed_send(self,
                       std::chrono::milliseconds{req.request.deadline_unix_ms - unix_now_ms()},
                       prefill_due_atom::value, id);
  schedule_step(self);
  return promise;
}

void init_metrics(prefill_pointer self) {
  auto& st = self->state;
  auto& reg = st.ctx.rt->metrics();
  label_set labels{{"dynamo_namespace", st.ctx.rt->ns()},
                   {"dynamo_component", st.ctx.name},
                   {"dynamo_endpoint", prefill_api::name},
                   {"instance", st.ctx.instance.to_string()}};
  st.m.requests = &reg.get_counter("dynamo_component_requests_total",
                                   "requests received by the endpoint", labels);
  st.m.inflight = &reg.get_gauge("dynamo_component_inflight_requests",
                                 "requests currently being processed", labels);
  st.m.errors = &reg.get_counter("dynamo_component_errors_total",
                                 "requests that failed in the worker", labels);
  st.m.cancellations = &reg.get_counter("dynamo_component_cancellation_total",
                                        "requests cancelled by their caller", labels);
  st.m.transfer_bytes = &reg.get_counter("dynamo_component_kv_transfer_bytes_total",
                                         "KV bytes written into decode workers", labels);
  st.m.transfer_seconds = &reg.get_histogram("dynamo_component_kv_transfer_seconds",
                                             "time from the first token to the last byte written",
                                             latency_buckets_seconds(), labels);
  st.m.queue_seconds = &reg.get_histogram(
    "dynamo_component_prefill_queue_seconds",
    "remote prefills: time from admission until the worker turned to the prompt",
    latency_buckets_seconds(), labels);
  st.m.service_seconds = &reg.get_histogram(
    "dynamo_component_prefill_service_seconds",
    "remote prefills: time from when the worker turned to the prompt to its first token",
    latency_buckets_seconds(), labels);
  label_set kv_labels{{"dynamo_namespace", st.ctx.rt->ns()},
                      {"dynamo_component", st.ctx.name},
                      {"instance", st.ctx.instance.to_string()}};
  st.m.kv_active = &reg.get_gauge("dynamo_component_kv_active_blocks",
                                  "KV blocks held by running sequences", kv_labels);
  st.m.kv_held = &reg.get_gauge("dynamo_component_kv_held_blocks",
                                "KV blocks kept for a transfer to a decode worker", kv_labels);
}

caf::error register_prefill_worker(prefill_pointer self) {
  auto& st = self->state;
  auto stats = st.engine->stats();
  instance_registration reg;
  reg.capacity.model = served_model_name(st.cfg);
  if (!st.cfg.model_path.empty())
    reg.capacity.model_path =
      std::filesystem::absolute(st.cfg.model_path).lexically_normal().string();
  reg.capacity.total_kv_blocks = stats.total_kv_blocks;
  if (stats.kv_block_size > 0)
    reg.capacity.kv_block_size = stats.kv_block_size;
  if (stats.max_sequences > 0)
    reg.capacity.max_num_seqs = stats.max_sequences;
  reg.capacity.hash_scheme = fmt::format("xxh3-64:seed={}", engine::block_hash_seed);
  reg.extra = {{"interfaces", prefill_api::name}, {"engine", st.engine->name()}};
  st.data->announce(reg);
  auto lease = announce_registration(st.ctx, caf::actor_cast<caf::actor>(self), prefill_api::name,
                                     std::move(reg));
  if (!lease)
    return std::move(lease.error());
  st.lease = *lease;
  return caf::none;
}

prefill_worker_actor::behavior_type
prefill_behavior(prefill_pointer self, component_context ctx, worker_config cfg,
                 std::shared_ptr<engine::engine> engine, std::shared_ptr<kv_data> data) {
  auto& state = self->state;
  state.ctx = std::move(ctx);
  state.cfg = std::move(cfg);
  state.data = std::move(data);
  state.engine = std::move(engine);
  init_metrics(self);
  state.publisher = state.ctx.rt->events().make_publisher(state.ctx.instance.to_string());
  // The prefill worker's cache is not routed to (routers pick decode workers by KV overlap):
  // its KV events are not published.
  state.engine->set_kv_event_sink({});
  if (state.data->layout.layers == 0 || state.data->pool.base == nullptr) {
    state.ctx.log->error("the {} engine has no KV pool in data-plane memory to send from",
                         state.engine->name());
    self->quit(make_error(errc::invalid_request, "the prefill worker has no KV pool to send"));
  } else if (auto err = register_prefill_worker(self)) {
    // CAF 0.17 typed behaviors cannot be empty: quit, and return the behavior unused.
    state.ctx.log->error("cannot register: {}", describe(err));
    self->quit(err);
  } else {
    state.life.start();
    publish_load(self, true);
    state.ctx.log->info("prefilling for model '{}' with engine '{}' ({} KV blocks of {} tokens, "
                        "{} layers of {} bytes per block) on data plane {}",
                        served_model_name(state.cfg), state.engine->name(),
                        state.data->layout.blocks, state.data->layout.block_size,
                        state.data->layout.layers, state.data->layout.region_bytes,
                        state.data->agent->name());
  }
  return {
    [self](prefill_atom, remote_prefill_request& req) -> caf::result<remote_prefill_result> {
      self->state.m.requests->inc();
      auto result = start_job(self, req);
      if (result.err)
        self->state.m.errors->inc();
      return result;
    },
    [self](cancel_atom, request_id id, cancel_kind) {
      if (self->state.jobs.count(id) == 0)
        return;
      self->state.m.cancellations->inc();
      stop_job(self, id, make_error(errc::cancelled, "the request was cancelled"));
    },
    [self](prefill_due_atom, request_id id) {
      stop_job(self, id,
               make_error(errc::deadline_exceeded, "the request's deadline passed in prefill"));
    },
    [self](prefill_sent_atom, request_id id, caf::error& err) {
      auto& st = self->state;
      auto pos = st.jobs.find(id);
      if (pos == st.jobs.end() || pos->second.layers_pending == 0)
        on_internal_error(fmt::format("transfer completion for remote prefill {:016x} that "
                                      "has no transfer in flight", id));
      auto& job = pos->second;
      --job.layers_pending;
      if (err) {
        forget_peer_on(self, job, err);
        if (!job.failure)
          job.failure = std::move(err);
      }
      if (job.layers_pending == 0) {
        job.result.transfer_us = micros_since(job.computed);
        conclude(self, pos);
      }
    },
    [self](stats_atom) {
      auto& st = self->state;
      auto engine_stats = st.engine->stats();
      prefill_worker_stats out;
      out.active_prefills = st.jobs.size();
      for (const auto& kv : st.jobs)
        if (kv.second.phase == prefill_phase::sending)
          ++out.sending;
      out.cached_peers = st.peers.size();
      out.active_kv_blocks = engine_stats.active_kv_blocks;
      out.held_kv_blocks = engine_stats.held_kv_blocks;
      out.waiting_sequences = engine_stats.waiting_sequences;
      out.running_sequences = engine_stats.running_sequences;
      out.data_in_flight = st.data->agent->in_flight();
      return out;
    },
    [self](step_atom, uint64_t seq) {
      if (seq == self->state.step_seq && self->state.stepping)
        deliver_step(self);
    },
    [self](drain_atom, uint32_t timeout_ms) -> caf::result<drain_report> {
      auto& st = self->state;
      if (!st.life.begin_drain())
        return make_error(errc::invalid_request, "the prefill worker is already draining");
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
      // Computing prefills stop now; sending ones finish their transfers first (the decode
      // side must not reuse blocks still being written), then the drain ends.
      st.drain_abandoned = static_cast<uint32_t>(st.jobs.size());
      std::vector<request_id> ids;
      for (const auto& kv : st.jobs)
        ids.push_back(kv.first);
      for (auto id : ids)
        stop_job(self, id, make_error(errc::unavailable, "the prefill worker is shutting down"));
      finish_drain_if_idle(self);
    },
  };
}

} // namespace

prefill_worker_actor spawn_prefill_worker(component_context& ctx, const worker_config& cfg,
                                          std::unique_ptr<engine::engine> engine,
                                          std::shared_ptr<kv_data> data) {
  std::shared_ptr<engine::engine> shared{std::move(engine)};
  if (shared->computes())
    return ctx.rt->system().spawn<caf::detached>(prefill_behavior, ctx, cfg, shared,
                                                 std::move(data));
  return ctx.rt->system().spawn(prefill_behavior, ctx, cfg, shared, std::move(data));
}

caf::actor prefill_worker::spawn(component_context& ctx, const config& given) {
  auto cfg = resolve_model_path(given);
  auto data = make_kv_data(*ctx.rt, fmt::format("{}/{}", ctx.name, ctx.instance.to_string()));
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
    ctx.log->error("cannot use the engine's KV pool: {}", describe(err));
    return {};
  }
  if ((*data)->layout.layers == 0) {
    ctx.log->error("the {} engine has no KV bytes to send: a prefill worker needs them (mocker: "
                   "set kv-bytes-per-token)",
                   cfg.engine);
    return {};
  }
  return caf::actor_cast<caf::actor>(
    spawn_prefill_worker(ctx, cfg, std::move(*engine), std::move(*data)));
}

} // namespace dynamo::actors
