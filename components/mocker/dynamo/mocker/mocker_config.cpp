#include "dynamo/mocker/mocker_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace dynamo::mocker {

namespace {

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

} // namespace

caf::error validate(const mocker_config& cfg) {
  if (auto err = batching::validate(cfg, "mocker"))
    return err;
  if (!std::isfinite(cfg.speedup_ratio) || cfg.speedup_ratio <= 0.0)
    return invalid(fmt::format("mocker: speedup_ratio must be a finite number > 0, got {}",
                               cfg.speedup_ratio));
  if (cfg.token_min > cfg.token_max)
    return invalid(fmt::format("mocker: token_min ({}) must not exceed token_max ({})",
                               cfg.token_min, cfg.token_max));
  if (cfg.kv_layers == 0)
    return invalid("mocker: kv_layers must be at least 1");
  if (cfg.kv_bytes_per_token % (uint64_t{8} * cfg.kv_layers) != 0)
    return invalid(fmt::format("mocker: kv_bytes_per_token ({}) must be a multiple of 8 * "
                               "kv_layers ({})",
                               cfg.kv_bytes_per_token, uint64_t{8} * cfg.kv_layers));
  uint64_t pool_bytes = 0;
  if (__builtin_mul_overflow(uint64_t{cfg.block_size} * cfg.kv_bytes_per_token,
                             cfg.total_kv_blocks, &pool_bytes)
      || pool_bytes > uint64_t{std::numeric_limits<std::ptrdiff_t>::max()})
    return invalid(fmt::format("mocker: a KV pool of {} blocks of {} tokens at "
                               "kv_bytes_per_token {} overflows the address space",
                               cfg.total_kv_blocks, cfg.block_size, cfg.kv_bytes_per_token));
  return {};
}

} // namespace dynamo::mocker
