#include "dynamo/batching/scheduler_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace dynamo::batching {

caf::error validate(const scheduler_config& cfg, std::string_view owner) {
  auto invalid = [owner](std::string message) {
    return make_error(errc::invalid_request, fmt::format("{}: {}", owner, message));
  };
  if (cfg.block_size == 0)
    return invalid("block_size must be at least 1");
  // Block indices are 32-bit; the last value is reserved as a list sentinel.
  if (cfg.total_kv_blocks == 0 || cfg.total_kv_blocks >= std::numeric_limits<uint32_t>::max())
    return invalid(fmt::format("total_kv_blocks must be in [1, {}), got {}",
                               std::numeric_limits<uint32_t>::max(), cfg.total_kv_blocks));
  if (cfg.max_num_seqs == 0)
    return invalid("max_num_seqs must be at least 1");
  if (cfg.max_num_batched_tokens == 0)
    return invalid("max_num_batched_tokens must be at least 1");
  if (cfg.max_model_len == 0)
    return invalid("max_model_len must be at least 1");
  if (cfg.max_waiting == 0)
    return invalid("max_waiting must be at least 1");
  if (!std::isfinite(cfg.admission_watermark) || cfg.admission_watermark < 0.0
      || cfg.admission_watermark >= 1.0)
    return invalid(fmt::format("admission_watermark must be in [0, 1), got {}",
                               cfg.admission_watermark));
  if (!cfg.enable_chunked_prefill && cfg.max_num_batched_tokens < cfg.max_model_len)
    return invalid(fmt::format("without chunked prefill max_num_batched_tokens ({}) must be at "
                               "least max_model_len ({})",
                               cfg.max_num_batched_tokens, cfg.max_model_len));
  return {};
}

} // namespace dynamo::batching
