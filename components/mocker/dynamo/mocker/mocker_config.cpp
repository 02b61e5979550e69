#include "dynamo/mocker/mocker_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>

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
  return {};
}

} // namespace dynamo::mocker
