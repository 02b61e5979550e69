#include "dynamo/mocker/mocker_engine.hpp"

#include "dynamo/error.hpp"
#include "dynamo/mocker/kv_content.hpp"
#include "dynamo/mocker/output_tokens.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::mocker {

namespace {

const mocker_config& checked(const mocker_config& cfg) {
  if (auto err = validate(cfg))
    on_internal_error("mocker: invalid config: " + describe(err));
  return cfg;
}

// The pool of `cfg`, or none without kv_bytes_per_token.
caf::expected<std::optional<simulated_kv_pool>>
make_pool(const mocker_config& cfg, const dynamo::engine::kv_memory_provider& provider) {
  if (cfg.kv_bytes_per_token == 0)
    return std::optional<simulated_kv_pool>{};
  auto pool = simulated_kv_pool::make(cfg, provider);
  if (!pool)
    return std::move(pool.error());
  return std::optional<simulated_kv_pool>{std::move(*pool)};
}

std::optional<simulated_kv_pool> pool_or_die(const mocker_config& cfg,
                                             const dynamo::engine::kv_memory_provider& provider) {
  auto pool = make_pool(checked(cfg), provider);
  if (!pool)
    on_internal_error("mocker: cannot build the KV pool: " + describe(pool.error()));
  return std::move(*pool);
}

} // namespace

mocker_engine::mocker_engine(mocker_config cfg, logger_ptr log,
                             dynamo::engine::kv_memory_provider provider)
  : mocker_engine(std::in_place, cfg, std::move(log), pool_or_die(cfg, provider)) {
}

mocker_engine::mocker_engine(std::in_place_t, mocker_config cfg, logger_ptr log,
                             std::optional<simulated_kv_pool> pool)
  : cfg_(std::move(cfg)),
    log_(log ? std::move(log) : default_logger("mocker")),
    scheduler_(cfg_, log_),
    timing_(cfg_.speedup_ratio),
    kv_capacity_tokens_(static_cast<double>(cfg_.total_kv_blocks) * cfg_.block_size),
    pool_(std::move(pool)) {
  log_->info("mocker engine: {} KV blocks of {} tokens, max {} sequences, {} batched tokens, "
             "prefix caching {}, chunked prefill {}, speedup x{}",
             cfg_.total_kv_blocks, cfg_.block_size, cfg_.max_num_seqs,
             cfg_.max_num_batched_tokens, cfg_.enable_prefix_caching ? "on" : "off",
             cfg_.enable_chunked_prefill ? "on" : "off", cfg_.speedup_ratio);
  if (pool_)
    log_->info("mocker KV pool: {} layers x {} blocks of {} bytes = {:.1f} MiB ({} bytes per "
               "token)",
               pool_->view().layers, pool_->view().blocks, pool_->view().region_bytes,
               static_cast<double>(pool_->view().bytes()) / (1024.0 * 1024.0),
               cfg_.kv_bytes_per_token);
}

caf::expected<std::unique_ptr<mocker_engine>>
mocker_engine::make(mocker_config cfg, logger_ptr log,
                    dynamo::engine::kv_memory_provider provider) {
  if (auto err = validate(cfg))
    return err;
  auto pool = make_pool(cfg, provider);
  if (!pool)
    return std::move(pool.error());
  return std::unique_ptr<mocker_engine>{
    new mocker_engine(std::in_place, std::move(cfg), std::move(log), std::move(*pool))};
}

std::string mocker_engine::name() const {
  return "mocker";
}

caf::error mocker_engine::admit(dynamo::engine::sequence_request req) {
  const auto seed = token_stream_seed(req, cfg_.seed);
  return scheduler_.admit(std::move(req), seed);
}

caf::expected<dynamo::engine::remote_kv>
mocker_engine::admit_remote(dynamo::engine::sequence_request req) {
  const auto seed = token_stream_seed(req, cfg_.seed);
  return scheduler_.admit_remote(std::move(req), seed);
}

caf::error mocker_engine::complete_remote(dynamo::engine::request_id id,
                                          dynamo::engine::token_id first_token) {
  if (pool_) {
    const auto* seq = scheduler_.find(id);
    if (seq != nullptr && seq->phase == batching::sequence_phase::awaiting_kv) {
      if (auto err = verify_kv(*seq))
        return err;
    }
  }
  return scheduler_.complete_remote(id, first_token);
}

caf::error mocker_engine::verify_kv(const batching::sequence& seq) const {
  const uint32_t bs = cfg_.block_size;
  const uint32_t prompt_blocks = (seq.prompt_len + bs - 1) / bs;
  if (seq.blocks.size() < prompt_blocks)
    on_internal_error(fmt::format("mocker: awaiting request {} has {} blocks for {} prompt "
                                  "blocks",
                                  seq.id, seq.blocks.size(), prompt_blocks));
  for (uint32_t i = seq.cached_prompt_tokens / bs; i < prompt_blocks; ++i) {
    const auto key = kv_block_key(seq.tokens, seq.sequence_hashes, bs, i, seq.prompt_len);
    if (auto bad = pool_->verify(seq.blocks[i], key))
      return make_error(errc::internal,
                        fmt::format("KV content mismatch in prompt block {} (pool block {}), "
                                    "layer {}",
                                    i, seq.blocks[i], bad->layer),
                        fmt::format("mocker: request {}: the received KV of prompt block {} "
                                    "(pool block {}) differs from what its prefill writes, "
                                    "first in layer {} at byte {} of {}",
                                    seq.id, i, seq.blocks[i], bad->layer, bad->byte,
                                    pool_->view().region_bytes));
  }
  return {};
}

void mocker_engine::write_kv(const batching::step_batch& batch) noexcept {
  const uint32_t bs = cfg_.block_size;
  for (const auto& work : batch.work) {
    const auto& seq = *work.seq;
    const uint32_t start = seq.computed;
    const uint32_t end = start + work.tokens;
    if (!work.prefill) {
      // A decode step computes position `start`; only a block it fills can be shared (by the
      // prefix cache), so that is the only one whose content matters.
      if (end % bs == 0)
        pool_->write(seq.blocks[start / bs],
                     kv_block_key(seq.tokens, seq.sequence_hashes, bs, start / bs, end));
      continue;
    }
    for (uint32_t block = start / bs; block * bs < end; ++block)
      pool_->write(seq.blocks[block], kv_block_key(seq.tokens, seq.sequence_hashes, bs, block,
                                                   std::min(end, (block + 1) * bs)));
  }
}

bool mocker_engine::release_held(dynamo::engine::request_id id) {
  return scheduler_.release_held(id);
}

caf::expected<dynamo::engine::held_kv>
mocker_engine::held_blocks(dynamo::engine::request_id id) const {
  return scheduler_.held_blocks(id);
}

bool mocker_engine::cancel(dynamo::engine::request_id id) {
  return scheduler_.cancel(id);
}

bool mocker_engine::has_work() const {
  return scheduler_.has_work();
}

dynamo::engine::step_result mocker_engine::step() {
  dynamo::engine::step_result result;
  const auto& batch = scheduler_.schedule();
  if (pool_)
    write_kv(batch);
  result.delay = timing_.step_delay(batch.prefill_tokens, batch.decode_sequences,
                                    static_cast<double>(batch.kv_tokens) / kv_capacity_tokens_);
  result.outputs.reserve(batch.work.size());
  scheduler_.complete(result.outputs, [this](const batching::sequence& seq, size_t) {
    return output_token(seq.stream_seed, seq.generated, cfg_.token_min, cfg_.token_max);
  });
  return result;
}

dynamo::engine::engine_stats mocker_engine::stats() const {
  return scheduler_.stats();
}

void mocker_engine::set_kv_event_sink(dynamo::engine::kv_event_sink sink) {
  scheduler_.set_kv_event_sink(std::move(sink));
}

std::vector<dynamo::engine::kv_event> mocker_engine::kv_snapshot() const {
  return scheduler_.kv_snapshot();
}

dynamo::engine::kv_pool_view mocker_engine::kv_pool() {
  return pool_ ? pool_->view() : dynamo::engine::kv_pool_view{};
}

} // namespace dynamo::mocker
