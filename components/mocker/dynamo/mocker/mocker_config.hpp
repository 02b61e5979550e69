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
  /// KV bytes one token adds over all layers; 0 = no simulated KV pool (kv_pool() is empty).
  /// With a pool, prefill writes deterministic content that complete_remote verifies. Must be
  /// a multiple of 8 * kv_layers.
  uint32_t kv_bytes_per_token = 0;
  uint32_t kv_layers = 4;                   ///< Layers of the simulated KV pool (>= 1).
};

/// Configuration of a mocker_engine: the shared scheduler settings plus the simulation's own.
/// Plain value; check it with validate() before use.
struct mocker_config : batching::scheduler_config, simulation_config {};

/// Checks every field; invalid_request naming the first bad field, or an empty error. Any thread.
caf::error validate(const mocker_config& cfg);

} // namespace dynamo::mocker
