// The simple routing policies: how a router picks a worker from load alone. The KV-aware
// policy ("kv") needs the prompt and the prefix index; it lives in kv_routing.
#pragma once

#include "dynamo/ids.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>

namespace dynamo::actors {

/// The router's view of one worker's load (tracked by the router itself).
struct worker_load {
  instance_id instance;
  uint32_t active_requests = 0;  ///< Routed and not yet finished.
  uint64_t active_tokens = 0;    ///< Prompt + max output tokens of those requests.
};

/// Picks a worker for a request. Owned by one router actor; not thread-safe.
class routing_policy {
public:
  virtual ~routing_policy();
  /// "round-robin", "random", "least-loaded".
  virtual std::string_view name() const = 0;
  /// Returns an index into `workers` (never empty) for a request of `prompt_tokens` tokens.
  virtual size_t pick(std::span<const worker_load> workers, size_t prompt_tokens) = 0;
};

/// Cycles through the workers in order.
class round_robin_policy final : public routing_policy {
public:
  std::string_view name() const override { return "round-robin"; }
  size_t pick(std::span<const worker_load> workers, size_t prompt_tokens) override;

private:
  size_t next_ = 0;
};

/// Uniformly random worker (seeded).
class random_policy final : public routing_policy {
public:
  explicit random_policy(uint64_t seed) : gen_(seed) {}
  std::string_view name() const override { return "random"; }
  size_t pick(std::span<const worker_load> workers, size_t prompt_tokens) override;

private:
  std::mt19937_64 gen_;
};

/// Fewest active requests, then fewest active tokens; ties rotate so that equally loaded
/// workers share the traffic.
class least_loaded_policy final : public routing_policy {
public:
  std::string_view name() const override { return "least-loaded"; }
  size_t pick(std::span<const worker_load> workers, size_t prompt_tokens) override;

private:
  size_t rotation_ = 0;
};

/// Makes a policy by name. Errors: invalid_request for an unknown name (listing the valid ones).
caf::expected<std::unique_ptr<routing_policy>> make_policy(std::string_view name, uint64_t seed);

} // namespace dynamo::actors
