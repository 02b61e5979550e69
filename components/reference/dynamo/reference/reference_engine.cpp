#include "dynamo/reference/reference_engine.hpp"

#include "dynamo/engine/mix.hpp"
#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <random>
#include <span>

namespace dynamo::reference {

using engine::golden_gamma;
using engine::mix64;

namespace {

// Keeps stream seeds of seeded requests apart from the engine's own streams.
constexpr uint64_t request_seed_salt = 0x5265666572656e63ull;  // "Referenc"

// The model's EOS ids (generation_config.json, else config.json) plus the configured one.
std::vector<engine::token_id> stop_ids_of(const model::checkpoint& ckpt,
                                          std::optional<engine::token_id> configured) {
  const auto& ids = ckpt.generation.eos_token_ids.empty() ? ckpt.config.eos_token_ids
                                                          : ckpt.generation.eos_token_ids;
  std::vector<engine::token_id> out(ids.begin(), ids.end());
  if (configured)
    out.push_back(*configured);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

uint64_t random_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}

} // namespace

caf::expected<std::unique_ptr<reference_engine>>
reference_engine::make(reference_config cfg, logger_ptr log,
                       dynamo::engine::kv_memory_provider provider) {
  if (!log)
    log = default_logger("reference");
  if (auto err = validate(cfg))
    return err;
  auto ckpt = model::open_checkpoint(cfg.model_dir);
  if (!ckpt)
    return std::move(ckpt.error());
  const auto& mc = ckpt->config;
  if (mc.vocab_size == 0 || mc.num_hidden_layers == 0 || mc.num_key_value_heads == 0
      || mc.head_dim == 0)
    return make_error(errc::invalid_request, fmt::format("reference: {} describes an empty model",
                                                         cfg.model_dir.string()));
  kv_geometry geometry;
  geometry.layers = mc.num_hidden_layers;
  geometry.kv_heads = mc.num_key_value_heads;
  geometry.head_dim = mc.head_dim;
  geometry.block_size = cfg.block_size;
  const uint64_t block_bytes = uint64_t{geometry.region_bytes()} * geometry.layers;
  const uint64_t affordable = cfg.kv_cache_bytes / block_bytes;
  if (affordable == 0)
    return make_error(errc::invalid_request,
                      fmt::format("reference: kv_cache_bytes ({}) is smaller than one KV block "
                                  "({} bytes for {} tokens over {} layers)",
                                  cfg.kv_cache_bytes, block_bytes, cfg.block_size,
                                  geometry.layers));
  cfg.total_kv_blocks = std::min(cfg.total_kv_blocks, affordable);
  cfg.max_model_len = std::min(cfg.max_model_len, mc.max_position_embeddings);
  if (cfg.eos_token_id && *cfg.eos_token_id >= mc.vocab_size)
    return make_error(errc::invalid_request,
                      fmt::format("reference: eos_token_id {} is outside the vocabulary of {}",
                                  *cfg.eos_token_id, mc.vocab_size));
  // Every EOS id is added per sequence by admit(); the scheduler's single slot stays empty.
  auto eos = stop_ids_of(*ckpt, cfg.eos_token_id);
  cfg.eos_token_id.reset();
  if (auto err = validate(cfg))
    return err;
  runner_options opts;
  opts.threads = cfg.threads;
  opts.block_size = cfg.block_size;
  opts.kv_blocks = cfg.total_kv_blocks;
  opts.kv_memory = std::move(provider);
  auto runner = model_runner::load(*ckpt, opts, log);
  if (!runner)
    return std::move(runner.error());
  log->info("reference engine: {} ({} layers, hidden {}, vocab {}) on {} threads; KV pool {} "
            "blocks of {} tokens = {} tokens, {:.1f} MiB; max_model_len {}",
            mc.architecture, mc.num_hidden_layers, mc.hidden_size, mc.vocab_size,
            (*runner)->threads(), cfg.total_kv_blocks, cfg.block_size,
            cfg.total_kv_blocks * cfg.block_size,
            static_cast<double>(cfg.total_kv_blocks * block_bytes) / (1024.0 * 1024.0),
            cfg.max_model_len);
  return std::unique_ptr<reference_engine>{new reference_engine(
    std::move(cfg), std::move(log), std::move(*ckpt), std::move(*runner), std::move(eos))};
}

reference_engine::reference_engine(reference_config cfg, logger_ptr log, model::checkpoint ckpt,
                                   std::unique_ptr<model_runner> runner,
                                   std::vector<dynamo::engine::token_id> eos)
  : cfg_(std::move(cfg)),
    log_(std::move(log)),
    checkpoint_(std::move(ckpt)),
    runner_(std::move(runner)),
    scheduler_(cfg_, log_),
    eos_(std::move(eos)),
    vocab_(checkpoint_.config.vocab_size),
    random_state_(random_seed()) {
  items_.reserve(cfg_.max_num_seqs);
}

reference_engine::~reference_engine() = default;

std::string reference_engine::name() const {
  return "reference";
}

uint64_t reference_engine::stream_seed(const dynamo::engine::sequence_request& req) {
  if (req.sampling.seed)
    return mix64(*req.sampling.seed ^ request_seed_salt);
  if (cfg_.seed != 0)
    return mix64(mix64(cfg_.seed) + (req.id + 1) * golden_gamma);
  random_state_ += golden_gamma;
  return mix64(random_state_);
}

caf::error reference_engine::prepare(dynamo::engine::sequence_request& req) const {
  if (auto err = validate(req.sampling))
    return err;
  for (const auto token : req.prompt) {
    if (token >= vocab_)
      return make_error(errc::invalid_request,
                        fmt::format("token id {} is out of range for a vocabulary of {}", token,
                                    vocab_));
  }
  if (!req.stop.ignore_eos) {
    auto& stops = req.stop.stop_token_ids;
    for (const auto eos : eos_) {
      if (std::find(stops.begin(), stops.end(), eos) == stops.end())
        stops.push_back(eos);
    }
  }
  return {};
}

caf::error reference_engine::admit(dynamo::engine::sequence_request req) {
  if (auto err = prepare(req))
    return err;
  const auto seed = stream_seed(req);
  return scheduler_.admit(std::move(req), seed);
}

caf::expected<dynamo::engine::remote_kv>
reference_engine::admit_remote(dynamo::engine::sequence_request req) {
  if (auto err = prepare(req))
    return err;
  const auto seed = stream_seed(req);
  return scheduler_.admit_remote(std::move(req), seed);
}

caf::error reference_engine::complete_remote(dynamo::engine::request_id id,
                                             dynamo::engine::token_id first_token) {
  if (first_token >= vocab_)
    return make_error(errc::invalid_request,
                      fmt::format("first token id {} is out of range for a vocabulary of {}",
                                  first_token, vocab_));
  return scheduler_.complete_remote(id, first_token);
}

bool reference_engine::release_held(dynamo::engine::request_id id) {
  return scheduler_.release_held(id);
}

caf::expected<dynamo::engine::held_kv>
reference_engine::held_blocks(dynamo::engine::request_id id) const {
  return scheduler_.held_blocks(id);
}

bool reference_engine::cancel(dynamo::engine::request_id id) {
  return scheduler_.cancel(id);
}

bool reference_engine::has_work() const {
  return scheduler_.has_work();
}

dynamo::engine::step_result reference_engine::step() {
  dynamo::engine::step_result result;
  const auto& batch = scheduler_.schedule();
  if (batch.work.empty()) {
    scheduler_.complete(result.outputs, {});
    return result;
  }
  const auto started = std::chrono::steady_clock::now();
  items_.clear();
  for (const auto& work : batch.work) {
    const auto& seq = *work.seq;
    forward_item item;
    item.tokens = std::span{seq.tokens}.subspan(seq.computed, work.tokens);
    item.start = seq.computed;
    item.block_table = seq.blocks;
    item.want_logits = !work.prefill || seq.computed + work.tokens >= seq.prefill_target;
    items_.push_back(item);
  }
  runner_->forward(items_, logits_);
  if (logits_.size() < items_.size() * size_t{vocab_})
    on_internal_error("reference: the model runner returned too few logits");
  result.outputs.reserve(batch.work.size());
  const uint64_t prefill_tokens = batch.prefill_tokens;
  const uint64_t decode_tokens = batch.decode_sequences;
  scheduler_.complete(result.outputs, [this](const batching::sequence& seq, size_t index) {
    const auto row = std::span<const float>{logits_}.subspan(index * vocab_, vocab_);
    return sample(row, seq.sampling, seq.stream_seed, seq.generated, scratch_);
  });
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ++counters_.steps;
  counters_.prefill_tokens += prefill_tokens;
  counters_.decode_tokens += decode_tokens;
  if (prefill_tokens > 0)
    counters_.prefill_time += elapsed;
  else
    counters_.decode_time += elapsed;
  return result;
}

dynamo::engine::engine_stats reference_engine::stats() const {
  return scheduler_.stats();
}

void reference_engine::set_kv_event_sink(dynamo::engine::kv_event_sink sink) {
  scheduler_.set_kv_event_sink(std::move(sink));
}

std::vector<dynamo::engine::kv_event> reference_engine::kv_snapshot() const {
  return scheduler_.kv_snapshot();
}

dynamo::engine::kv_pool_view reference_engine::kv_pool() {
  auto& kv = runner_->kv();
  const auto& g = kv.geometry();
  dynamo::engine::kv_pool_view view;
  view.base = kv.bytes().data();
  view.layers = g.layers;
  view.blocks = static_cast<uint32_t>(g.blocks);
  view.region_bytes = g.region_bytes();
  return view;
}

std::vector<uint32_t> reference_engine::block_table(dynamo::engine::request_id id) const {
  const auto* seq = scheduler_.find(id);
  if (seq == nullptr)
    return {};
  return {seq->blocks.begin(), seq->blocks.end()};
}

engine_counters reference_engine::counters() const noexcept {
  auto out = counters_;
  out.preemptions = scheduler_.preemptions();
  return out;
}

} // namespace dynamo::reference
