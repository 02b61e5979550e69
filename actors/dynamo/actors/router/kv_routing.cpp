#include "dynamo/actors/router/kv_routing.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::actors {

namespace {

using clock = std::chrono::steady_clock;

/// A negative hint means "the router's default".
kv_router::routing_overrides overrides_of(const routing_hints& hints) {
  kv_router::routing_overrides out;
  if (hints.overlap_weight >= 0.0)
    out.overlap_weight = hints.overlap_weight;
  if (hints.temperature >= 0.0)
    out.temperature = hints.temperature;
  return out;
}

} // namespace

void kv_routing_config::bind(option_set& opts, const std::string& prefix) {
  opts.add(use_events, prefix + ".kv-events",
           "KV policy: index the workers' KV events (false: approximate mode, the router "
           "remembers its own decisions for --" + prefix + ".approx-ttl)");
  opts.add(overlap_weight, prefix + ".overlap-weight",
           "KV policy: weight of the blocks still to prefill in the cost (cost = weight x "
           "prefill blocks + decode blocks)");
  opts.add(temperature, prefix + ".temperature",
           "KV policy: softmax temperature of the choice (0 = always the cheapest worker)");
  opts.add(block_size, prefix + ".block-size",
           "KV policy: tokens per KV block every worker must use (0 = the first worker's)");
  opts.add(approx_ttl, prefix + ".approx-ttl",
           "KV policy, approximate mode: how long a routing decision counts as cached");
  opts.add(approx_max_blocks, prefix + ".approx-max-blocks",
           "KV policy, approximate mode: remembered blocks before the oldest are pruned");
  opts.add(index_max_blocks, prefix + ".index-max-blocks",
           "KV policy: bound on indexed (worker, block) entries (0 = unbounded)");
  opts.add(busy_kv_usage, prefix + ".busy-kv-usage",
           "load valve: a worker whose tracked KV usage exceeds this fraction is busy (0 = off)");
  opts.add(busy_prefill_tokens, prefix + ".busy-prefill-tokens",
           "load valve: a worker with more active prefill tokens is busy (0 = off)");
  opts.add(busy_active_requests, prefix + ".busy-active-requests",
           "load valve: a worker with more active requests is busy (0 = off)");
  opts.add(active_expiry, prefix + ".active-expiry",
           "KV policy: a routed request without a finish stops counting as load after this");
  opts.add(max_expected_output, prefix + ".max-expected-output",
           "KV policy: cap of max_tokens counted as a request's expected output");
}

std::string expected_hash_scheme() {
  return fmt::format("xxh3-64:seed={}", engine::block_hash_seed);
}

kv_routing::kv_routing(kv_routing_config cfg, uint64_t seed, std::string self_id,
                       metrics_registry& metrics, label_set labels, logger_ptr log)
  : cfg_(std::move(cfg)),
    seed_(seed),
    self_id_(std::move(self_id)),
    metrics_(&metrics),
    labels_(std::move(labels)),
    log_(std::move(log)) {
  kv_router::index_config icfg;
  icfg.max_blocks = cfg_.index_max_blocks;
  index_ = std::make_shared<kv_router::prefix_index>(icfg);
  if (!cfg_.use_events)
    decisions_ = std::make_unique<kv_router::decision_log>(*index_, cfg_.approx_ttl,
                                                            cfg_.approx_max_blocks);
  m_overlap_ = &metrics_->get_histogram("dynamo_router_kv_overlap_blocks",
                                        "prompt blocks already cached on the chosen worker",
                                        exponential_buckets(1, 2, 12), labels_);
  m_matched_ = &metrics_->get_counter("dynamo_router_kv_matched_blocks_total",
                                      "prompt blocks routed to a worker that caches them",
                                      labels_);
  m_prompt_ = &metrics_->get_counter("dynamo_router_kv_prompt_blocks_total",
                                     "full prompt blocks of routed requests", labels_);
  m_hit_rate_ = &metrics_->get_gauge("dynamo_router_kv_hit_rate",
                                     "matched / prompt blocks since start", labels_);
  m_index_blocks_ = &metrics_->get_gauge("dynamo_router_kv_index_blocks",
                                         "(worker, block) entries in the prefix index", labels_);
  m_index_bytes_ = &metrics_->get_gauge("dynamo_router_kv_index_memory_bytes",
                                        "estimated heap used by the prefix index", labels_);
  m_rejected_workers_ = &metrics_->get_counter(
    "dynamo_router_rejected_workers_total",
    "workers refused for a block size or hash scheme the router cannot match", labels_);
  m_hashing_ = &metrics_->get_histogram("dynamo_router_overhead_block_hashing_seconds",
                                        "time to hash a prompt's blocks",
                                        exponential_buckets(1e-7, 4, 10), labels_);
}

namespace {

kv_router::kv_scheduler_config scheduler_config(const kv_routing_config& cfg,
                                                uint32_t block_size) {
  kv_router::kv_scheduler_config scfg;
  scfg.block_size = block_size;
  scfg.selector.overlap_weight = cfg.overlap_weight;
  scfg.selector.temperature = cfg.temperature;
  scfg.busy.kv_usage = cfg.busy_kv_usage;
  scfg.busy.prefill_tokens = cfg.busy_prefill_tokens;
  scfg.busy.active_requests = cfg.busy_active_requests;
  scfg.max_expected_output = cfg.max_expected_output;
  return scfg;
}

} // namespace

caf::error validate(const kv_routing_config& cfg) {
  // Any block size stands in for the one learnt from the first worker.
  return kv_router::validate(scheduler_config(cfg, cfg.block_size != 0 ? cfg.block_size : 16));
}

void kv_routing::ensure_scheduler(uint32_t block_size) {
  if (scheduler_)
    return;
  block_size_ = block_size;
  scheduler_ = std::make_unique<kv_router::kv_scheduler>(scheduler_config(cfg_, block_size),
                                                         *index_, seed_);
}

caf::error kv_routing::add_worker(uint64_t worker, const instance_registration& reg) {
  auto refuse = [this, worker](std::string why) {
    ++stats_.rejected_workers;
    m_rejected_workers_->inc();
    return make_error(errc::invalid_request,
                      "the worker cannot be routed to by a KV-aware router",
                      fmt::format("worker {:016x}: {}", worker, why));
  };
  if (!reg.capacity.kv_block_size)
    return refuse("its registration has no kv_block_size");
  auto bs = *reg.capacity.kv_block_size;
  auto want = cfg_.block_size != 0 ? cfg_.block_size : block_size_;
  if (want != 0 && bs != want)
    return refuse(fmt::format("its KV block size is {} tokens, the router's is {}", bs, want));
  if (reg.capacity.hash_scheme.value_or("") != expected_hash_scheme())
    return refuse(fmt::format("its block hash scheme is '{}', the router's is '{}'",
                              reg.capacity.hash_scheme.value_or("(none)"),
                              expected_hash_scheme()));
  ensure_scheduler(bs);
  auto total = reg.capacity.total_kv_blocks.value_or(0);
  workers_[worker] = total;
  scheduler_->add_worker(worker, total);
  if (!gauges_.contains(worker)) {
    auto labels = labels_;
    labels.emplace_back("worker", fmt::format("{:016x}", worker));
    worker_gauges g;
    g.prefill_tokens = &metrics_->get_gauge("dynamo_router_worker_active_prefill_tokens",
                                            "uncached prompt tokens the router routed to the "
                                            "worker that have not produced a token yet",
                                            labels);
    g.decode_blocks = &metrics_->get_gauge("dynamo_router_worker_active_decode_blocks",
                                           "KV blocks the worker's routed requests hold",
                                           labels);
    g.active_requests = &metrics_->get_gauge("dynamo_router_worker_active_requests",
                                             "requests routed to the worker and not finished",
                                             labels);
    gauges_[worker] = g;
  }
  update_gauges(worker);
  return caf::none;
}

std::vector<uint64_t> kv_routing::remove_worker(uint64_t worker) {
  if (workers_.erase(worker) == 0)
    return {};
  std::vector<uint64_t> ids;
  if (scheduler_)
    ids = scheduler_->remove_worker(worker);
  if (decisions_)
    decisions_->remove_worker(worker);
  update_gauges(worker);
  return ids;
}

bool kv_routing::has_worker(uint64_t worker) const {
  return workers_.contains(worker);
}

bool kv_routing::all_busy(std::span<const uint64_t> exclude) const {
  return !scheduler_ || scheduler_->all_busy(exclude);
}

caf::expected<kv_router::route_decision>
kv_routing::schedule(const generate_request& req, std::span<const uint64_t> exclude) {
  if (!scheduler_ || workers_.empty())
    return make_error(errc::unavailable, "no worker is available",
                      "no worker passed the KV router's registration checks");
  auto now = clock::now();
  auto t0 = clock::now();
  auto hashes = engine::hash_blocks(req.tokens, block_size_).sequence;
  m_hashing_->observe(std::chrono::duration<double>(clock::now() - t0).count());
  auto decision = scheduler_->schedule_hashed(req.id, hashes,
                                              static_cast<uint32_t>(req.tokens.size()),
                                              req.stop.max_tokens, overrides_of(req.routing),
                                              exclude, now);
  if (!decision)
    return decision;
  if (decisions_)
    decisions_->record(decision->worker, hashes, now);
  ++stats_.decisions;
  stats_.matched_blocks += decision->overlap_blocks;
  stats_.prompt_blocks += decision->prompt_blocks;
  m_overlap_->observe(decision->overlap_blocks);
  m_matched_->inc(decision->overlap_blocks);
  m_prompt_->inc(decision->prompt_blocks);
  if (stats_.prompt_blocks > 0)
    m_hit_rate_->set(static_cast<double>(stats_.matched_blocks)
                     / static_cast<double>(stats_.prompt_blocks));
  update_gauges(decision->worker);
  return decision;
}

bool kv_routing::prefill_done(uint64_t id) {
  auto worker = scheduler_ ? scheduler_->worker_of(id) : std::nullopt;
  if (!worker || !scheduler_->prefill_done(id))
    return false;
  update_gauges(*worker);
  return true;
}

bool kv_routing::finish(uint64_t id) {
  auto worker = scheduler_ ? scheduler_->worker_of(id) : std::nullopt;
  if (!worker || !scheduler_->finish(id))
    return false;
  update_gauges(*worker);
  return true;
}

void kv_routing::apply_sync(const std::vector<kv_router::sync_event>& events) {
  if (!scheduler_)
    return;
  auto now = clock::now();
  for (const auto& ev : events) {
    if (ev.router == self_id_)
      continue;
    switch (ev.type) {
      case kv_router::sync_event::kind::route: {
        auto worker = ev.route.worker;
        if (!workers_.contains(worker))
          break;
        if (decisions_)
          decisions_->record(worker, ev.route.prompt_hashes, now);
        if (scheduler_->track_remote(ev.route, now)) {
          ++stats_.sync_applied;
          update_gauges(worker);
        }
        break;
      }
      case kv_router::sync_event::kind::prefill_done:
        if (prefill_done(ev.request))
          ++stats_.sync_applied;
        break;
      case kv_router::sync_event::kind::finish:
        if (finish(ev.request))
          ++stats_.sync_applied;
        break;
    }
  }
}

void kv_routing::tick() {
  auto now = clock::now();
  if (decisions_)
    decisions_->expire(now);
  if (scheduler_) {
    for (auto id : scheduler_->expire(now - cfg_.active_expiry)) {
      log_->warn("request {:016x} held load for longer than {} ms without finishing: dropped "
                 "from the load view",
                 id, cfg_.active_expiry.count());
    }
  }
  for (const auto& [worker, total] : workers_)
    update_gauges(worker);
  auto s = index_->stats();
  m_index_blocks_->set(static_cast<double>(s.entries));
  m_index_bytes_->set(static_cast<double>(s.memory_bytes));
}

kv_router::load_snapshot kv_routing::load(uint64_t worker) const {
  return scheduler_ ? scheduler_->load(worker) : kv_router::load_snapshot{};
}

kv_routing_stats kv_routing::stats() const {
  auto s = stats_;
  s.indexed_blocks = index_->stats().entries;
  return s;
}

void kv_routing::update_gauges(uint64_t worker) {
  auto i = gauges_.find(worker);
  if (i == gauges_.end())
    return;
  auto l = load(worker);
  i->second.prefill_tokens->set(static_cast<double>(l.prefill_tokens));
  i->second.decode_blocks->set(static_cast<double>(l.decode_blocks));
  i->second.active_requests->set(static_cast<double>(l.active_requests));
}

} // namespace dynamo::actors
