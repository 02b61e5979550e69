#include "dynamo/actors/worker/remote_prefill.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace dynamo::actors::detail {

namespace {

/// Gap between attempts to reconnect a prefill peer whose handle broke.
constexpr auto peer_retry_delay = std::chrono::seconds{1};

/// How long a prefill worker told to stop has to confirm before its blocks are freed anyway
/// (it is then presumed hung or gone).
constexpr auto cancel_grace = std::chrono::seconds{2};

/// Errors of a prefill worker after which the prompt is worth prefilling locally.
bool worth_fallback(errc code) noexcept {
  switch (code) {
    case errc::unavailable:
    case errc::disconnected:
    case errc::overloaded:
    case errc::deadline_exceeded:
    case errc::internal:
      return true;
    default:
      return false;
  }
}

void update_threshold(decode_role& d) {
  auto t = d.policy.threshold_tokens();
  d.m.threshold->set(t == std::numeric_limits<uint64_t>::max() ? -1.0 : static_cast<double>(t));
}

void count_local(decode_role& d) {
  ++d.local_prefills;
  d.m.local_prefills->inc();
}

/// After blocks were freed: publishes what changed and lets a drain finish.
void after_release(worker_pointer self) {
  flush_kv_events(self);
  publish_load(self, !self->state.engine->has_work());
  finish_drain_if_idle(self);
}

/// Removes the awaiting entry of this attempt; nullopt for a stale or unknown one.
std::optional<awaiting_prefill> take_awaiting(decode_role& d, request_id id, uint64_t attempt) {
  auto i = d.awaiting.find(id);
  if (i == d.awaiting.end() || i->second.attempt != attempt)
    return std::nullopt;
  auto entry = std::move(i->second);
  d.awaiting.erase(i);
  auto n = d.outstanding.find(entry.prefill);
  if (n != d.outstanding.end() && --n->second == 0)
    d.outstanding.erase(n);
  return entry;
}

/// An error for the caller in our vocabulary (CAF system errors are classified).
caf::error client_error(const caf::error& err) {
  if (err.category() == error_category)
    return err;
  return make_error(classify(err), "the remote prefill failed", operator_detail(err));
}

/// The prefill worker can no longer write the blocks: free them, then prefill locally or fail.
void finish_failed(worker_pointer self, request_id id, awaiting_prefill entry,
                   const caf::error& err) {
  auto& st = self->state;
  auto& d = *st.decode;
  st.engine->cancel(id);
  if (entry.abandoned) {
    after_release(self);
    return;
  }
  auto code = classify(err);
  if (st.cfg.remote_prefill_fallback && worth_fallback(code)) {
    ++d.fallbacks;
    d.m.fallbacks->inc();
    count_local(d);
    st.ctx.log->info("remote prefill of request {:016x} on {:016x} failed ({}): prefilling locally",
                     id, entry.prefill, describe(err));
    if (auto admit_err = admit_local(self, entry.request))
      fail_request(self, id, admit_err);
    else
      schedule_step(self);
  } else {
    st.ctx.log->warn("remote prefill of request {:016x} on {:016x} failed: {}", id, entry.prefill,
                     describe(err));
    fail_request(self, id, client_error(err));
  }
  after_release(self);
}

void on_prefilled(worker_pointer self, request_id id, uint64_t attempt,
                  const remote_prefill_result& res) {
  auto& st = self->state;
  auto& d = *st.decode;
  auto entry = take_awaiting(d, id, attempt);
  if (!entry)
    return;
  if (entry->abandoned) {
    st.engine->cancel(id);
    after_release(self);
    return;
  }
  if (auto err = st.engine->complete_remote(id, res.first_token)) {
    st.engine->cancel(id);
    st.ctx.log->warn("request {:016x}: the KV from prefill worker {:016x} is unusable: {}", id,
                     entry->prefill, describe(err));
    fail_request(self, id, err);
    after_release(self);
    return;
  }
  auto elapsed = std::chrono::duration<double>(worker_clock::now() - entry->started).count();
  d.m.remote_seconds->observe(elapsed);
  d.transfer_bytes += res.bytes;
  d.m.transfer_bytes->inc(static_cast<double>(res.bytes));
  d.policy.observe_transfer(res.bytes, static_cast<double>(res.transfer_us) / 1e6);
  auto prompt = entry->request.tokens.size();
  if (prompt > res.prefill_cached_tokens)
    d.policy.observe_prefill(prompt - res.prefill_cached_tokens,
                             static_cast<double>(res.prefill_us) / 1e6);
  update_threshold(d);
  schedule_step(self);
}

void on_prefill_error(worker_pointer self, request_id id, uint64_t attempt, caf::error err) {
  auto& d = *self->state.decode;
  auto entry = take_awaiting(d, id, attempt);
  if (!entry)
    return;
  // No reply even after the grace: the prefill worker is hung or gone; it is told to stop (in
  // case it is merely slow) and the blocks are freed.
  if (err == caf::sec::request_timeout)
    self->send(entry->peer, cancel_atom::value, id, cancel_kind::kill);
  if (entry->timed_out)
    err = make_error(errc::deadline_exceeded, "the remote prefill took too long",
                     fmt::format("no KV from prefill worker {:016x} within {} ms ({})",
                                 entry->prefill, self->state.cfg.remote_prefill_timeout.count(),
                                 describe(err)));
  finish_failed(self, id, std::move(*entry), err);
}

/// The live peer `hint` names, else the one with the fewest remote prefills outstanding.
const peer_set<prefill_actor>::entry& pick_peer(const decode_role& d, uint64_t hint) {
  const auto& peers = d.peers.entries();
  const peer_set<prefill_actor>::entry* best = nullptr;
  uint32_t best_load = std::numeric_limits<uint32_t>::max();
  for (const auto& p : peers) {
    if (hint != 0 && p.instance.value == hint)
      return p;
    auto n = d.outstanding.find(p.instance.value);
    auto load = n == d.outstanding.end() ? 0u : n->second;
    if (load < best_load) {
      best = &p;
      best_load = load;
    }
  }
  return *best;
}

/// True when the prefill peer of `change` can write into this worker's pool: its registration
/// decodes and publishes a pool with the same layers, region size and block size. A peer that
/// cannot (a misconfigured deployment: another engine or KV geometry) is logged as an error and
/// never used, so that requests are prefilled locally instead of failing.
bool compatible_prefill_peer(worker_state& st, const peer_change& change) {
  auto reg = peer_registration(change, st.ctx.log);
  if (!reg)
    return false;
  auto pool = peer_pool_of(*reg);
  const auto& own = st.kv->layout;
  if (!pool) {
    st.ctx.log->error("prefill worker {:016x} publishes no usable KV pool ({}): not used",
                      change.instance, describe(pool.error()));
    ++st.decode->rejected_peers;
    return false;
  }
  const auto& theirs = pool->layout;
  if (theirs.layers != own.layers || theirs.region_bytes != own.region_bytes
      || theirs.block_size != own.block_size) {
    st.ctx.log->error("prefill worker {:016x} has KV layout {}, this worker {}: not used",
                      change.instance, disagg::encode_layout(theirs), disagg::encode_layout(own));
    ++st.decode->rejected_peers;
    return false;
  }
  return true;
}

} // namespace

caf::error init_decode(worker_pointer self) {
  auto& st = self->state;
  if (auto err = disagg::validate(st.cfg.disagg))
    return err;
  if (st.cfg.remote_prefill_timeout <= std::chrono::milliseconds::zero())
    return make_error(errc::invalid_request, "remote-prefill-timeout must be positive");
  const auto& layout = st.kv->layout;
  uint64_t per_token = layout.block_size == 0
                         ? 0
                         : uint64_t{layout.layers} * layout.region_bytes / layout.block_size;
  st.decode.emplace(disagg::disagg_policy{st.cfg.disagg, per_token});
  auto& d = *st.decode;
  auto& reg = st.ctx.rt->metrics();
  label_set labels{{"dynamo_namespace", st.ctx.rt->ns()},
                   {"dynamo_component", st.ctx.name},
                   {"instance", st.ctx.instance.to_string()}};
  d.m.remote_prefills = &reg.get_counter("dynamo_worker_remote_prefills_total",
                                         "prompts sent to a prefill worker", labels);
  d.m.fallbacks = &reg.get_counter("dynamo_worker_remote_prefill_fallbacks_total",
                                   "failed remote prefills redone locally", labels);
  d.m.local_prefills = &reg.get_counter("dynamo_worker_local_prefills_total",
                                        "prompts a decode worker prefilled itself", labels);
  d.m.transfer_bytes = &reg.get_counter("dynamo_worker_kv_transfer_bytes_total",
                                        "KV bytes prefill workers wrote into this worker", labels);
  d.m.remote_seconds = &reg.get_histogram("dynamo_worker_remote_prefill_seconds",
                                          "time from sending a remote prefill to its reply",
                                          latency_buckets_seconds(), labels);
  d.m.threshold = &reg.get_gauge("dynamo_worker_disagg_threshold_tokens",
                                 "uncached prompt tokens from which prompts are prefilled "
                                 "remotely (-1: never)",
                                 labels);
  d.m.peers = &reg.get_gauge("dynamo_worker_prefill_peers",
                             "live prefill workers this decode worker hands prompts to", labels);
  update_threshold(d);
  return caf::none;
}

caf::error watch_prefill_peers(worker_pointer self) {
  auto& st = self->state;
  auto targets = st.ctx.targets_for<prefill_api>();
  if (targets.empty()) {
    st.ctx.log->info("decode worker without prefill components: prefilling locally");
    return caf::none;
  }
  st.ctx.log->info("decode worker: remote prefills on {} from {} uncached tokens",
                   fmt::join(targets, ", "), st.decode->policy.threshold_tokens());
  return watch_peers(st.ctx, targets, caf::actor_cast<caf::actor>(self));
}

caf::error admit_decode(worker_pointer self, const generate_request& req) {
  auto& st = self->state;
  auto& d = *st.decode;
  if (d.peers.empty()) {
    count_local(d);
    return admit_local(self, req);
  }
  auto reserved = st.engine->admit_remote(
    engine::sequence_request{req.id, req.tokens, req.sampling, req.stop});
  if (!reserved) {
    // No room to reserve now (or a prompt it refuses): the local path queues or refuses alike.
    st.ctx.log->debug("request {:016x}: no remote prefill ({})", req.id,
                      describe(reserved.error()));
    count_local(d);
    return admit_local(self, req);
  }
  auto uncached = req.tokens.size() - std::min<size_t>(reserved->cached_tokens, req.tokens.size());
  if (!d.policy.remote(uncached)) {
    st.engine->cancel(req.id);
    count_local(d);
    return admit_local(self, req);
  }
  const auto& peer = pick_peer(d, req.prefill_worker);
  auto attempt = ++d.next_attempt;
  awaiting_prefill entry;
  entry.request = req;
  entry.prefill = peer.instance.value;
  entry.peer = peer.handle;
  entry.attempt = attempt;
  entry.started = worker_clock::now();
  d.awaiting.emplace(req.id, std::move(entry));
  ++d.outstanding[peer.instance.value];
  ++d.remote_prefills;
  d.m.remote_prefills->inc();
  remote_prefill_request msg{req, st.ctx.name, st.ctx.instance.value,
                             std::move(reserved->blocks), reserved->cached_tokens};
  st.ctx.log->debug("request {:016x}: {} uncached tokens prefilled on {:016x}", req.id, uncached,
                    peer.instance.value);
  auto id = req.id;
  // The reply may come up to cancel_grace after the timeout: the answer to the cancel.
  self->delayed_send(self, st.cfg.remote_prefill_timeout, remote_due_atom::value, id, attempt);
  self->request(peer.handle, st.cfg.remote_prefill_timeout + cancel_grace, prefill_atom::value,
                std::move(msg))
    .then([self, id, attempt](remote_prefill_result& res) { on_prefilled(self, id, attempt, res); },
          [self, id, attempt](caf::error& err) {
            on_prefill_error(self, id, attempt, std::move(err));
          });
  return caf::none;
}

bool cancel_awaiting(worker_pointer self, request_id id) {
  auto& st = self->state;
  if (!st.decode)
    return false;
  auto i = st.decode->awaiting.find(id);
  if (i == st.decode->awaiting.end())
    return false;
  if (!i->second.abandoned && !i->second.timed_out)
    self->send(i->second.peer, cancel_atom::value, id, cancel_kind::kill);
  i->second.abandoned = true;
  return true;
}

bool prefill_peer_down(worker_pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  if (!st.decode)
    return false;
  auto& d = *st.decode;
  bool known = false;
  if (auto instance = d.peers.suspend(addr)) {
    known = true;
    d.m.peers->set(static_cast<double>(d.peers.size()));
    st.ctx.log->warn("prefill worker {:016x} terminated ({} live)", instance->value,
                     d.peers.size());
    self->delayed_send(self, peer_retry_delay, peer_retry_atom::value, instance->value);
  }
  std::vector<std::pair<request_id, uint64_t>> orphans;
  for (const auto& [id, entry] : d.awaiting)
    if (entry.peer.address() == addr)
      orphans.emplace_back(id, entry.attempt);
  for (auto [id, attempt] : orphans) {
    known = true;
    auto entry = take_awaiting(d, id, attempt);
    if (!entry)
      continue;
    auto err = make_error(errc::disconnected, "the prefill worker went away",
                          fmt::format("prefill worker {:016x} terminated during the prefill",
                                      entry->prefill));
    finish_failed(self, id, std::move(*entry), err);
  }
  return known;
}

void on_remote_due(worker_pointer self, request_id id, uint64_t attempt) {
  auto& st = self->state;
  if (!st.decode)
    return;
  auto i = st.decode->awaiting.find(id);
  if (i == st.decode->awaiting.end() || i->second.attempt != attempt || i->second.abandoned
      || i->second.timed_out)
    return;
  i->second.timed_out = true;
  st.ctx.log->warn("remote prefill of request {:016x} on {:016x} exceeded {} ms: cancelling it",
                   id, i->second.prefill, st.cfg.remote_prefill_timeout.count());
  self->send(i->second.peer, cancel_atom::value, id, cancel_kind::kill);
}

void on_prefill_peer(worker_pointer self, peer_change& change) {
  auto& st = self->state;
  if (!st.decode)
    return;
  auto& d = *st.decode;
  if (change.up && !compatible_prefill_peer(st, change))
    change.up = false;
  auto known = d.peers.size();
  if (auto err = d.peers.apply(change, st.ctx.rt->requests(), st.ctx.rt->ns(), prefill_api::name))
    st.ctx.log->warn("cannot reach prefill worker {:016x}: {}", change.instance, describe(err));
  if (d.peers.size() > known)
    self->monitor(d.peers.entries().back().handle);
  d.m.peers->set(static_cast<double>(d.peers.size()));
  st.ctx.log->info("prefill worker {:016x} {} ({} live)", change.instance,
                   change.up ? "joined" : "left", d.peers.size());
}

void on_prefill_retry(worker_pointer self, uint64_t instance) {
  auto& st = self->state;
  if (!st.decode)
    return;
  auto& d = *st.decode;
  auto known = d.peers.size();
  auto err = d.peers.resume(instance_id{instance}, st.ctx.rt->requests(), st.ctx.rt->ns(),
                            prefill_api::name);
  if (!err) {
    if (d.peers.size() > known)
      self->monitor(d.peers.entries().back().handle);
    d.m.peers->set(static_cast<double>(d.peers.size()));
    st.ctx.log->info("prefill worker {:016x} reachable again ({} live)", instance, d.peers.size());
  } else if (classify(err) != errc::not_found) {
    self->delayed_send(self, peer_retry_delay, peer_retry_atom::value, instance);
  }
}

void fill_decode_stats(const worker_state& st, worker_stats& out) {
  if (!st.decode)
    return;
  const auto& d = *st.decode;
  out.awaiting_remote = d.awaiting.size();
  out.remote_prefills = d.remote_prefills;
  out.remote_prefill_fallbacks = d.fallbacks;
  out.local_prefills = d.local_prefills;
  out.kv_transfer_bytes = d.transfer_bytes;
  out.prefill_peers = d.peers.size();
  out.rejected_prefill_peers = d.rejected_peers;
}

} // namespace dynamo::actors::detail
