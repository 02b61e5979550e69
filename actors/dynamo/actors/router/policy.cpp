#include "dynamo/actors/router/policy.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

namespace dynamo::actors {

routing_policy::~routing_policy() = default;

size_t round_robin_policy::pick(std::span<const worker_load> workers, size_t) {
  return next_++ % workers.size();
}

size_t random_policy::pick(std::span<const worker_load> workers, size_t) {
  std::uniform_int_distribution<size_t> dist{0, workers.size() - 1};
  return dist(gen_);
}

size_t least_loaded_policy::pick(std::span<const worker_load> workers, size_t) {
  auto n = workers.size();
  auto start = rotation_++ % n;
  size_t best = start;
  for (size_t k = 1; k < n; ++k) {
    auto i = (start + k) % n;
    const auto& w = workers[i];
    const auto& b = workers[best];
    if (w.active_requests < b.active_requests
        || (w.active_requests == b.active_requests && w.active_tokens < b.active_tokens))
      best = i;
  }
  return best;
}

caf::expected<std::unique_ptr<routing_policy>> make_policy(std::string_view name, uint64_t seed) {
  if (name == "round-robin")
    return std::unique_ptr<routing_policy>{std::make_unique<round_robin_policy>()};
  if (name == "random")
    return std::unique_ptr<routing_policy>{std::make_unique<random_policy>(seed)};
  if (name == "least-loaded")
    return std::unique_ptr<routing_policy>{std::make_unique<least_loaded_policy>()};
  return make_error(errc::invalid_request,
                    fmt::format("unknown routing policy '{}' (valid: round-robin, random, "
                                "least-loaded, kv)",
                                name));
}

} // namespace dynamo::actors
