// Settings of the reference engine: the shared scheduler settings plus the model and compute.
#pragma once

#include "dynamo/batching/scheduler_config.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <filesystem>

namespace dynamo::reference {

/// What only the reference engine has.
struct compute_config {
  std::filesystem::path model_dir;   ///< Hugging Face checkpoint directory.
  uint32_t threads = 0;              ///< Compute threads (0 = one per online CPU).
  uint64_t kv_cache_bytes = 1ull << 30;  ///< Upper bound of the KV pool; the pool holds
                                         ///< min(total_kv_blocks, kv_cache_bytes / block bytes).
  uint64_t seed = 0;                 ///< Seed of requests that bring none (0 = random per request).
};

/// Configuration of a reference_engine. Plain value; check with validate().
struct reference_config : batching::scheduler_config, compute_config {};

/// Checks every field; invalid_request naming the first bad one. Any thread.
caf::error validate(const reference_config& cfg);

} // namespace dynamo::reference
