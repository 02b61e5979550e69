#include "dynamo/mocker/mocker_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace dynamo::mocker {

namespace {

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

} // namespace

caf::error validate(const mocker_config& cfg) {
  if (cfg.block_size == 0)
    return invalid("mocker: block_size must be at least 1");
  // Block indices are 32-bit; the last value is reserved as a list sentinel.
  if (cfg.total_kv_blocks == 0 || cfg.total_kv_blocks >= std::numeric_limits<uint32_t>::max())
    return invalid(fmt::format("mocker: total_kv_blocks must be in [1, {}), got {}",
                               std::numeric_limits<uint32_t>::max(), cfg.total_kv_blocks));
  if (cfg.max_num_seqs == 0)
    return invalid("mocker: max_num_seqs must be at least 1");
  if (cfg.max_num_batched_tokens == 0)
    return invalid("mocker: max_num_batched_tokens must be at least 1");
  if (!std::isfinite(cfg.speedup_ratio) || cfg.speedup_ratio <= 0.0)
    return invalid(fmt::format("mocker: speedup_ratio must be a finite number > 0, got {}",
                               cfg.speedup_ratio));
  if (cfg.max_model_len == 0)
    return invalid("mocker: max_model_len must be at least 1");
  if (cfg.max_waiting == 0)
    return invalid("mocker: max_waiting must be at least 1");
  if (!std::isfinite(cfg.admission_watermark) || cfg.admission_watermark < 0.0
      || cfg.admission_watermark >= 1.0)
    return invalid(fmt::format("mocker: admission_watermark must be in [0, 1), got {}",
                               cfg.admission_watermark));
  if (cfg.token_min > cfg.token_max)
    return invalid(fmt::format("mocker: token_min ({}) must not exceed token_max ({})",
                               cfg.token_min, cfg.token_max));
  if (!cfg.enable_chunked_prefill && cfg.max_num_batched_tokens < cfg.max_model_len)
    return invalid(fmt::format("mocker: without chunked prefill max_num_batched_tokens ({}) must "
                               "be at least max_model_len ({})",
                               cfg.max_num_batched_tokens, cfg.max_model_len));
  return {};
}

} // namespace dynamo::mocker
