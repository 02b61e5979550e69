#include "dynamo/mocker/mocker_engine.hpp"

#include "dynamo/error.hpp"
#include "dynamo/mocker/output_tokens.hpp"

namespace dynamo::mocker {

mocker_engine::mocker_engine(mocker_config cfg, logger_ptr log)
  : cfg_(std::move(cfg)),
    log_(log ? std::move(log) : default_logger("mocker")),
    scheduler_(cfg_, log_),
    timing_(cfg_.speedup_ratio),
    kv_capacity_tokens_(static_cast<double>(cfg_.total_kv_blocks) * cfg_.block_size) {
  log_->info("mocker engine: {} KV blocks of {} tokens, max {} sequences, {} batched tokens, "
             "prefix caching {}, chunked prefill {}, speedup x{}",
             cfg_.total_kv_blocks, cfg_.block_size, cfg_.max_num_seqs,
             cfg_.max_num_batched_tokens, cfg_.enable_prefix_caching ? "on" : "off",
             cfg_.enable_chunked_prefill ? "on" : "off", cfg_.speedup_ratio);
}

caf::expected<std::unique_ptr<mocker_engine>> mocker_engine::make(mocker_config cfg,
                                                                  logger_ptr log) {
  if (auto err = validate(cfg))
    return err;
  return std::make_unique<mocker_engine>(std::move(cfg), std::move(log));
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
  return scheduler_.complete_remote(id, first_token);
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

} // namespace dynamo::mocker
