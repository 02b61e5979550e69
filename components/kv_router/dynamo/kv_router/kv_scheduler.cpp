#include "dynamo/kv_router/kv_scheduler.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace dynamo::kv_router {

namespace {

bool contains(std::span<const worker_key> xs, worker_key x) noexcept {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

caf::error validate(const kv_scheduler_config& cfg) {
  if (cfg.block_size == 0)
    return make_error(errc::invalid_request, "router block size must be >= 1");
  if (auto err = validate(cfg.selector))
    return err;
  return validate(cfg.busy);
}

namespace {

/// `cfg` itself, after checking the constructor's precondition.
const kv_scheduler_config& require_valid(const kv_scheduler_config& cfg) {
  if (auto err = validate(cfg))
    on_internal_error(fmt::format("kv_scheduler: {}", describe(err)));
  return cfg;
}

} // namespace

kv_scheduler::kv_scheduler(kv_scheduler_config cfg, const prefix_index& index, uint64_t seed)
  : cfg_(require_valid(cfg)), index_(index), selector_(cfg.selector, seed), load_(cfg.block_size) {
}

std::vector<kv_scheduler::worker_entry>::const_iterator
kv_scheduler::lower_bound(worker_key worker) const {
  return std::lower_bound(workers_.begin(), workers_.end(), worker,
                          [](const worker_entry& e, worker_key w) { return e.worker < w; });
}

void kv_scheduler::add_worker(worker_key worker, uint64_t total_kv_blocks) {
  auto i = lower_bound(worker);
  if (i != workers_.end() && i->worker == worker) {
    workers_[static_cast<size_t>(i - workers_.begin())].total_kv_blocks = total_kv_blocks;
    return;
  }
  workers_.insert(i, worker_entry{worker, total_kv_blocks});
}

std::vector<uint64_t> kv_scheduler::remove_worker(worker_key worker) {
  auto i = lower_bound(worker);
  if (i != workers_.end() && i->worker == worker)
    workers_.erase(i);
  return load_.remove_worker(worker);
}

bool kv_scheduler::has_worker(worker_key worker) const {
  auto i = lower_bound(worker);
  return i != workers_.end() && i->worker == worker;
}

std::vector<worker_key> kv_scheduler::workers() const {
  std::vector<worker_key> result;
  result.reserve(workers_.size());
  for (const auto& e : workers_)
    result.push_back(e.worker);
  return result;
}

bool kv_scheduler::busy(worker_key worker, uint64_t total) const {
  return is_busy(load_.load(worker), total, cfg_.busy);
}

bool kv_scheduler::all_busy(std::span<const worker_key> exclude) const {
  for (const auto& e : workers_)
    if (!contains(exclude, e.worker) && !busy(e.worker, e.total_kv_blocks))
      return false;
  return true;
}

caf::expected<route_decision>
kv_scheduler::schedule(uint64_t id, std::span<const engine::token_id> tokens, uint32_t max_tokens,
                       const routing_overrides& overrides, std::span<const worker_key> exclude,
                       clock::time_point now) {
  if (tokens.size() > std::numeric_limits<uint32_t>::max())
    return make_error(errc::invalid_request, "prompt too long to route",
                      fmt::format("{} tokens", tokens.size()));
  if (load_.worker_of(id))
    return make_error(errc::invalid_request, "duplicate request id",
                      fmt::format("request {} is already routed", id));
  auto hashes = engine::hash_blocks(tokens, cfg_.block_size).sequence;
  return schedule_hashed(id, hashes, static_cast<uint32_t>(tokens.size()), max_tokens, overrides,
                         exclude, now);
}

caf::expected<route_decision>
kv_scheduler::schedule_hashed(uint64_t id, std::span<const uint64_t> hashes,
                              uint32_t prompt_tokens, uint32_t max_tokens,
                              const routing_overrides& overrides,
                              std::span<const worker_key> exclude, clock::time_point now) {
  return schedule_matched(id, hashes, index_.find_matches(hashes), prompt_tokens, max_tokens,
                          overrides, exclude, now);
}

caf::expected<route_decision>
kv_scheduler::schedule_matched(uint64_t id, std::span<const uint64_t> hashes,
                               const match_result& matches, uint32_t prompt_tokens,
                               uint32_t max_tokens, const routing_overrides& overrides,
                               std::span<const worker_key> exclude, clock::time_point now) {
  if (auto err = validate(overrides))
    return err;
  if (load_.worker_of(id))
    return make_error(errc::invalid_request, "duplicate request id",
                      fmt::format("request {} is already routed", id));
  const uint32_t bs = cfg_.block_size;
  if (hashes.size() != prompt_tokens / bs)
    return make_error(errc::invalid_request, "prompt block hashes do not match the prompt",
                      fmt::format("{} hashes for {} tokens at block size {}", hashes.size(),
                                  prompt_tokens, bs));
  const uint32_t expected_output = std::min(max_tokens, cfg_.max_expected_output);
  const uint64_t tail = load_.tail_blocks(prompt_tokens, expected_output);
  const auto prompt_blocks = static_cast<uint32_t>(hashes.size());

  held_.assign(workers_.size(), 0);
  load_.for_each_holder(hashes, [this](worker_key w) {
    auto i = lower_bound(w);
    if (i != workers_.end() && i->worker == w)
      ++held_[static_cast<size_t>(i - workers_.begin())];
  });

  candidates_.clear();
  busy_.clear();
  auto overlap = matches.overlaps.begin();
  for (size_t slot = 0; slot < workers_.size(); ++slot) {
    const auto [w, total] = workers_[slot];
    while (overlap != matches.overlaps.end() && overlap->worker < w)
      ++overlap;
    if (contains(exclude, w))
      continue;
    candidate c;
    c.worker = w;
    if (overlap != matches.overlaps.end() && overlap->worker == w)
      c.overlap_blocks = std::min(overlap->blocks, prompt_blocks);
    const auto l = load_.load(w);
    const uint64_t cached_tokens = uint64_t{c.overlap_blocks} * bs;
    const uint64_t uncached = prompt_tokens > cached_tokens ? prompt_tokens - cached_tokens : 0;
    c.prefill_tokens = l.prefill_tokens + uncached;
    c.decode_blocks = l.decode_blocks + (prompt_blocks - held_[slot]) + tail;
    c.indexed_blocks = index_.worker_blocks(w);
    c.active_requests = l.active_requests;
    (is_busy(l, total, cfg_.busy) ? busy_ : candidates_).push_back(c);
  }
  route_decision d;
  if (candidates_.empty()) {
    if (busy_.empty())
      return make_error(errc::unavailable, "no worker available for this model",
                        fmt::format("{} workers known, {} excluded", workers_.size(),
                                    exclude.size()));
    candidates_.swap(busy_);
    d.busy_fallback = true;
  }
  const auto& chosen = candidates_[selector_.select(candidates_, bs, overrides)];
  const double weight = overrides.overlap_weight.value_or(cfg_.selector.overlap_weight);
  d.worker = chosen.worker;
  d.overlap_blocks = chosen.overlap_blocks;
  d.prompt_blocks = prompt_blocks;
  d.cost = candidate_cost(chosen, bs, weight);
  const uint64_t cached_tokens = uint64_t{chosen.overlap_blocks} * bs;
  d.tracked.id = id;
  d.tracked.worker = chosen.worker;
  d.tracked.prompt_hashes.assign(hashes.begin(), hashes.end());
  d.tracked.prompt_tokens = prompt_tokens;
  d.tracked.prefill_tokens =
    static_cast<uint32_t>(prompt_tokens > cached_tokens ? prompt_tokens - cached_tokens : 0);
  d.tracked.expected_output_tokens = expected_output;
  if (!load_.add(d.tracked, now))
    on_internal_error("kv_scheduler: a request checked as new is already tracked");
  return d;
}

bool kv_scheduler::prefill_done(uint64_t id) {
  return load_.prefill_done(id);
}

bool kv_scheduler::finish(uint64_t id) {
  return load_.finish(id);
}

bool kv_scheduler::track_remote(tracked_request r, clock::time_point now) {
  if (!has_worker(r.worker))
    return false;
  return load_.add(std::move(r), now);
}

std::vector<uint64_t> kv_scheduler::expire(clock::time_point cutoff) {
  return load_.expire(cutoff);
}

load_snapshot kv_scheduler::load(worker_key worker) const {
  return load_.load(worker);
}

uint64_t kv_scheduler::total_kv_blocks(worker_key worker) const {
  auto i = lower_bound(worker);
  return i != workers_.end() && i->worker == worker ? i->total_kv_blocks : 0;
}

caf::error kv_scheduler::set_selector(selector_config cfg) {
  if (auto err = selector_.set_config(cfg))
    return err;
  cfg_.selector = cfg;
  return {};
}

} // namespace dynamo::kv_router
