// Settings of the mocker engine: cache geometry, scheduler limits, timing and output tokens.
#pragma once

#include "dynamo/batching/scheduler_config.hpp"
#include "dynamo/engine/types.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <optional>

namespace dynamo::mocker {

/// What only the mocker has: its latency model's speed and its synthetic output tokens.
struct simulation_config {
  double speedup_ratio = 1.0;               ///< Simulated durations are divided by this (> 0).
  engine::token_id token_min = 32;          ///< Smallest generated token (printable ASCII).
  engine::token_id token_max = 126;         ///< Largest generated token.
  uint64_t seed = 0;                        ///< Perturbs every generated token stream.
};

/// Configuration of a mocker_engine: the shared scheduler settings plus the simulation's own.
/// Plain value; check it with validate() before use.
struct mocker_config : batching::scheduler_config, simulation_config {};

/// Checks every field; invalid_request naming the first bad field, or an empty error. Any thread.
caf::error validate(const mocker_config& cfg);

} // namespace dynamo::mocker
