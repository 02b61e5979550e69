#include "dynamo/batching/scheduler.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <span>

namespace dynamo::batching {

namespace {

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

const scheduler_config& checked(const scheduler_config& cfg) {
  if (auto err = validate(cfg))
    on_internal_error("scheduler: invalid config: " + describe(err));
  return cfg;
}

} // namespace

scheduler::scheduler(const scheduler_config& cfg, logger_ptr log)
  : cfg_(checked(cfg)),
    log_(log ? std::move(log) : default_logger("scheduler")),
    kv_(cfg.total_kv_blocks, cfg.enable_prefix_caching),
    watermark_blocks_(static_cast<uint64_t>(cfg.admission_watermark
                                            * static_cast<double>(cfg.total_kv_blocks))) {
  sequences_.reserve(size_t{cfg.max_waiting} + cfg.max_num_seqs);
  running_.reserve(cfg.max_num_seqs);
  batch_.work.reserve(cfg.max_num_seqs);
}

uint64_t scheduler::blocks_for(uint64_t tokens) const noexcept {
  return (tokens + cfg_.block_size - 1) / cfg_.block_size;
}

caf::error scheduler::check_request(const engine::sequence_request& req) const {
  if (req.prompt.empty())
    return invalid("the prompt must not be empty");
  if (req.stop.max_tokens == 0)
    return invalid("max_tokens must be at least 1");
  if (req.hold_kv && req.stop.max_tokens != 1)
    return invalid(fmt::format("a request that holds its KV for a remote decoder must have "
                               "max_tokens 1, not {}",
                               req.stop.max_tokens));
  if (sequences_.contains(req.id))
    return invalid(fmt::format("request id {} is already in use", req.id));
  const uint64_t total_len = uint64_t{req.prompt.size()} + req.stop.max_tokens;
  if (total_len > cfg_.max_model_len)
    return invalid(fmt::format("prompt ({} tokens) plus max_tokens ({}) exceeds the maximum "
                               "context length of {} tokens",
                               req.prompt.size(), req.stop.max_tokens, cfg_.max_model_len));
  // The last sampled token is never computed, so a sequence holds at most total_len - 1 tokens.
  const uint64_t blocks_needed = blocks_for(total_len - 1);
  if (blocks_needed > cfg_.total_kv_blocks)
    return invalid(fmt::format("the request needs {} KV blocks but the cache holds only {}",
                               blocks_needed, cfg_.total_kv_blocks));
  return {};
}

std::unique_ptr<sequence> scheduler::make_sequence(engine::sequence_request&& req,
                                                   uint64_t stream_seed) {
  const bool stop_on_eos = cfg_.eos_token_id && !req.stop.ignore_eos;
  auto seq = std::make_unique<sequence>(std::move(req), cfg_.block_size, stream_seed);
  if (stop_on_eos)
    seq->stop_tokens.push_back(*cfg_.eos_token_id);
  return seq;
}

uint32_t scheduler::slots_taken() const noexcept {
  return static_cast<uint32_t>(running_.size()) + awaiting_;
}

caf::error scheduler::admit(engine::sequence_request req, uint64_t stream_seed) {
  if (auto err = check_request(req))
    return err;
  if (waiting_.size() >= cfg_.max_waiting)
    return make_error(errc::overloaded, "the engine's waiting queue is full",
                      fmt::format("scheduler: {} sequences waiting", waiting_.size()));
  const auto id = req.id;
  auto seq = make_sequence(std::move(req), stream_seed);
  pending_prefill_ += seq->pending_prefill();
  waiting_.push_back(seq.get());
  sequences_.emplace(id, std::move(seq));
  log_->debug("admitted request {} ({} prompt tokens)", id, waiting_.back()->prompt_len);
  return {};
}

caf::expected<engine::remote_kv> scheduler::admit_remote(engine::sequence_request req,
                                                         uint64_t stream_seed) {
  if (req.hold_kv)
    return invalid("a request admitted for remote prefill cannot also hold its KV");
  if (auto err = check_request(req))
    return err;
  if (slots_taken() >= cfg_.max_num_seqs)
    return make_error(errc::overloaded, "the engine runs as many sequences as it can",
                      fmt::format("scheduler: {} running and {} awaiting KV, max_num_seqs {}",
                                  running_.size(), awaiting_, cfg_.max_num_seqs));
  auto seq = make_sequence(std::move(req), stream_seed);
  // The first token comes with the KV, so even a fully cached prompt needs no recompute.
  const auto hit = kv_.match_prefix(seq->sequence_hashes);
  const uint32_t hit_tokens = hit.blocks * cfg_.block_size;
  const uint64_t new_blocks = blocks_for(seq->prompt_len) - hit.blocks;
  if (new_blocks + hit.inactive > kv_.available_blocks())
    return make_error(errc::overloaded, "not enough free KV blocks for the prompt",
                      fmt::format("scheduler: request {} needs {} new blocks (+{} cached "
                                  "inactive), {} available",
                                  seq->id, new_blocks, hit.inactive, kv_.available_blocks()));
  for (uint32_t i = 0; i < hit.blocks; ++i)
    seq->blocks.push_back(kv_.acquire_cached(seq->sequence_hashes[i]));
  if (!kv_.allocate(static_cast<uint32_t>(new_blocks), seq->blocks))
    on_internal_error("scheduler: remote admission allocation failed after a capacity check");
  seq->phase = sequence_phase::awaiting_kv;
  seq->computed = hit_tokens;
  seq->registered = hit.blocks;
  seq->cached_prompt_tokens = hit_tokens;
  engine::remote_kv out;
  out.blocks.assign(seq->blocks.begin(), seq->blocks.end());
  out.cached_tokens = hit_tokens;
  ++awaiting_;
  const auto id = seq->id;
  log_->debug("admitted remote request {} ({} prompt tokens, {} cached, {} blocks)", id,
              seq->prompt_len, hit_tokens, out.blocks.size());
  sequences_.emplace(id, std::move(seq));
  return out;
}

caf::error scheduler::complete_remote(engine::request_id id, engine::token_id first_token) {
  auto i = sequences_.find(id);
  if (i == sequences_.end())
    return make_error(errc::not_found, fmt::format("request {} is unknown", id));
  auto& seq = *i->second;
  if (seq.phase != sequence_phase::awaiting_kv)
    return invalid(fmt::format("request {} is not awaiting its KV", id));
  --awaiting_;
  seq.computed = seq.prompt_len;
  kv_tokens_ += seq.computed;
  seq.phase = sequence_phase::decoding;
  running_.push_back(&seq);
  register_computed(seq);
  finish_token(seq, first_token, queued_outputs_);
  if (seq.phase == sequence_phase::finished) {
    running_.pop_back();
    drop(seq);
  }
  log_->debug("completed remote prefill of request {}", id);
  return {};
}

bool scheduler::release_held(engine::request_id id) {
  auto i = sequences_.find(id);
  if (i == sequences_.end() || i->second->phase != sequence_phase::held)
    return false;
  drop(*i->second);
  log_->debug("released the held KV of request {}", id);
  return true;
}

caf::expected<engine::held_kv> scheduler::held_blocks(engine::request_id id) const {
  auto i = sequences_.find(id);
  if (i == sequences_.end() || i->second->phase != sequence_phase::held)
    return make_error(errc::not_found, fmt::format("request {} holds no KV blocks", id));
  const auto& seq = *i->second;
  engine::held_kv out;
  out.blocks.assign(seq.blocks.begin(), seq.blocks.end());
  out.tokens = seq.computed;
  return out;
}

bool scheduler::cancel(engine::request_id id) {
  const auto discarded = std::erase_if(queued_outputs_, [id](const engine::sequence_output& o) {
    return o.id == id;
  });
  auto i = sequences_.find(id);
  if (i == sequences_.end())
    return discarded > 0;
  auto* seq = i->second.get();
  switch (seq->phase) {
    case sequence_phase::waiting:
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), seq));
      break;
    case sequence_phase::held:
    case sequence_phase::awaiting_kv:
      break;
    default:
      running_.erase(std::find(running_.begin(), running_.end(), seq));
      break;
  }
  drop(*seq);
  log_->debug("cancelled request {}", id);
  return true;
}

void scheduler::drop(sequence& seq) {
  pending_prefill_ -= seq.pending_prefill();
  if (seq.phase == sequence_phase::awaiting_kv)
    --awaiting_;
  else if (seq.phase == sequence_phase::held)
    held_blocks_ -= seq.blocks.size();
  else
    kv_tokens_ -= seq.computed;
  kv_.release(seq.blocks);
  seq.blocks.clear();
  sequences_.erase(seq.id);
}

const step_batch& scheduler::schedule() {
  batch_.work.clear();
  batch_.prefill_tokens = 0;
  batch_.decode_sequences = 0;
  batch_.preempted = 0;
  uint32_t budget = cfg_.max_num_batched_tokens;
  uint64_t scheduled_tokens = 0;
  // 1. One decode token per decoding sequence, in admission order. Sequences behind the current
  // one may be preempted to make room; the current one never runs ahead of older ones.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    auto* seq = running_[i];
    if (seq->phase != sequence_phase::decoding)
      continue;
    if (!reserve_decode_slot(*seq))
      break;
    batch_.work.push_back({seq, 1, false});
    ++batch_.decode_sequences;
    --budget;
    ++scheduled_tokens;
  }
  // 2. Continue prefills already running (their blocks were allocated at admission).
  for (auto* seq : running_) {
    if (budget == 0)
      break;
    if (seq->phase != sequence_phase::prefilling)
      continue;
    const uint32_t remaining = seq->prefill_target - seq->computed;
    if (!cfg_.enable_chunked_prefill && remaining > budget)
      continue;
    const uint32_t chunk = std::min(remaining, budget);
    batch_.work.push_back({seq, chunk, true});
    batch_.prefill_tokens += chunk;
    pending_prefill_ -= chunk;
    budget -= chunk;
    scheduled_tokens += chunk;
  }
  // 3. Admit from the head of the waiting queue (FIFO, no overtaking). Skipped after a
  // preemption: admitting now would only preempt again on the next decode.
  if (batch_.preempted == 0) {
    while (budget > 0 && !waiting_.empty() && slots_taken() < cfg_.max_num_seqs) {
      const uint32_t before = budget;
      if (!try_admit_head(budget))
        break;
      scheduled_tokens += before - budget;
    }
  }
  batch_.kv_tokens = kv_tokens_ + scheduled_tokens;
  return batch_;
}

bool scheduler::reserve_decode_slot(sequence& seq) {
  const uint64_t needed = blocks_for(uint64_t{seq.computed} + 1) - seq.blocks.size();
  if (needed == 0)
    return true;
  while (!kv_.allocate(static_cast<uint32_t>(needed), seq.blocks)) {
    auto* victim = running_.back();
    preempt_last();
    if (victim == &seq)
      return false;
  }
  return true;
}

void scheduler::preempt_last() {
  auto* seq = running_.back();
  running_.pop_back();
  pending_prefill_ -= seq->pending_prefill();
  kv_tokens_ -= seq->computed;
  kv_.release(seq->blocks);
  seq->blocks.clear();
  seq->computed = 0;
  seq->registered = 0;
  seq->prefill_target = 0;
  seq->phase = sequence_phase::waiting;
  pending_prefill_ += seq->pending_prefill();
  waiting_.push_front(seq);
  ++batch_.preempted;
  ++preemptions_;
  log_->debug("preempted request {} ({} tokens to recompute, {} blocks available)", seq->id,
              seq->tokens.size(), kv_.available_blocks());
}

bool scheduler::try_admit_head(uint32_t& budget) {
  auto* seq = waiting_.front();
  const auto n = static_cast<uint32_t>(seq->tokens.size());
  // At least one token must be computed to sample from, so a fully cached sequence still
  // recomputes its last block.
  const size_t max_hit_blocks = std::min<size_t>((n - 1) / cfg_.block_size,
                                                 seq->sequence_hashes.size());
  const auto hit = kv_.match_prefix(std::span{seq->sequence_hashes}.first(max_hit_blocks));
  const uint32_t hit_tokens = hit.blocks * cfg_.block_size;
  const uint32_t remaining = n - hit_tokens;
  if (!cfg_.enable_chunked_prefill && remaining > budget)
    return false;
  const uint64_t new_blocks = blocks_for(n) - hit.blocks;
  const uint64_t reserve = running_.empty() ? 0 : watermark_blocks_;
  if (new_blocks + hit.inactive + reserve > kv_.available_blocks())
    return false;
  waiting_.pop_front();
  pending_prefill_ -= seq->pending_prefill();
  for (uint32_t i = 0; i < hit.blocks; ++i)
    seq->blocks.push_back(kv_.acquire_cached(seq->sequence_hashes[i]));
  if (!kv_.allocate(static_cast<uint32_t>(new_blocks), seq->blocks))
    on_internal_error("scheduler: admission allocation failed after a capacity check");
  seq->phase = sequence_phase::prefilling;
  seq->computed = hit_tokens;
  seq->registered = hit.blocks;
  seq->prefill_target = n;
  if (seq->generated == 0)
    seq->cached_prompt_tokens = std::min(hit_tokens, seq->prompt_len);
  kv_tokens_ += hit_tokens;
  running_.push_back(seq);
  const uint32_t chunk = std::min(remaining, budget);
  pending_prefill_ += seq->pending_prefill() - chunk;
  batch_.work.push_back({seq, chunk, true});
  batch_.prefill_tokens += chunk;
  budget -= chunk;
  return true;
}

void scheduler::complete(std::vector<engine::sequence_output>& out, const token_picker& pick) {
  if (!queued_outputs_.empty()) {
    out.insert(out.end(), std::make_move_iterator(queued_outputs_.begin()),
               std::make_move_iterator(queued_outputs_.end()));
    queued_outputs_.clear();
  }
  bool any_finished = false;
  for (size_t index = 0; index < batch_.work.size(); ++index) {
    const auto& work = batch_.work[index];
    auto& seq = *work.seq;
    seq.computed += work.tokens;
    kv_tokens_ += work.tokens;
    register_computed(seq);
    if (work.prefill) {
      if (seq.computed < seq.prefill_target)
        continue;
      seq.phase = sequence_phase::decoding;
      seq.prefill_target = 0;
    }
    finish_token(seq, pick(seq, index), out);
    any_finished |= seq.phase == sequence_phase::finished;
  }
  batch_.work.clear();
  if (!any_finished)
    return;
  std::erase_if(running_, [this](sequence* seq) {
    if (seq->phase != sequence_phase::finished)
      return false;
    if (seq->hold_kv)
      hold(*seq);
    else
      drop(*seq);
    return true;
  });
}

void scheduler::hold(sequence& seq) {
  kv_tokens_ -= seq.computed;
  held_blocks_ += seq.blocks.size();
  seq.phase = sequence_phase::held;
  log_->debug("request {} holds {} KV blocks ({} positions) for a remote decoder", seq.id,
              seq.blocks.size(), seq.computed);
}

const sequence* scheduler::find(engine::request_id id) const {
  auto i = sequences_.find(id);
  return i == sequences_.end() ? nullptr : i->second.get();
}

engine::engine_stats scheduler::stats() const noexcept {
  engine::engine_stats s;
  s.kv_block_size = cfg_.block_size;
  s.total_kv_blocks = kv_.total_blocks();
  s.active_kv_blocks = kv_.active_blocks();
  s.cached_kv_blocks = kv_.inactive_blocks();
  s.waiting_sequences = waiting_count();
  s.running_sequences = running_count();
  s.prefill_tokens_pending = prefill_tokens_pending();
  s.max_sequences = cfg_.max_num_seqs;
  s.max_batched_tokens = cfg_.max_num_batched_tokens;
  s.held_kv_blocks = held_blocks_;
  s.awaiting_kv_sequences = awaiting_;
  return s;
}

void scheduler::register_computed(sequence& seq) {
  if (!kv_.prefix_caching())
    return;
  const uint32_t full = seq.computed / cfg_.block_size;
  if (full <= seq.registered)
    return;
  const size_t first = seq.registered;
  const size_t count = full - first;
  std::optional<uint64_t> parent;
  if (first > 0)
    parent = seq.sequence_hashes[first - 1];
  kv_.register_blocks(std::span{seq.blocks}.subspan(first, count),
                      std::span{seq.sequence_hashes}.subspan(first, count),
                      std::span{seq.local_hashes}.subspan(first, count), parent);
  seq.registered = full;
}

void scheduler::finish_token(sequence& seq, engine::token_id token,
                             std::vector<engine::sequence_output>& out) {
  ++seq.generated;
  auto& output = out.emplace_back();
  output.id = seq.id;
  output.prompt_tokens = seq.prompt_len;
  output.cached_prompt_tokens = seq.cached_prompt_tokens;
  if (seq.is_stop(token)) {
    output.finish = engine::finish_reason::stop;
  } else {
    output.tokens.push_back(token);
    seq.append_token(token);
    if (seq.generated >= seq.max_tokens)
      output.finish = engine::finish_reason::length;
  }
  if (output.finish != engine::finish_reason::none)
    seq.phase = sequence_phase::finished;
}

} // namespace dynamo::batching
