#include "dynamo/workload/workload.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace dynamo::workload {

caf::error validate(const workload& w) {
  std::unordered_map<uint64_t, uint32_t> next_turn;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& r = w.requests[i];
    auto bad = [&r](std::string_view field, std::string what) {
      return make_error(errc::invalid_request,
                        fmt::format("workload request {}: field '{}' {}", r.id, field, what));
    };
    if (r.id != i)
      return bad("id", fmt::format("is {} but must be its index {}", r.id, i));
    if (r.prompt.empty())
      return bad("prompt", "is empty");
    if (r.max_tokens == 0)
      return bad("max_tokens", "is 0 but must be at least 1");
    if (!std::isfinite(r.at_s) || r.at_s < 0.0)
      return bad("at_s", fmt::format("is {} but must be a finite number >= 0", r.at_s));
    if (r.session == 0) {
      if (r.turn != 0)
        return bad("turn", fmt::format("is {} but a standalone request has turn 0", r.turn));
      continue;
    }
    auto& expected = next_turn[r.session];
    if (r.turn != expected)
      return bad("turn", fmt::format("is {} but session {} expects turn {} next", r.turn,
                                     r.session, expected));
    ++expected;
  }
  return {};
}

uint64_t session_count(const workload& w) {
  std::unordered_set<uint64_t> sessions;
  for (const auto& r : w.requests)
    if (r.session != 0)
      sessions.insert(r.session);
  return sessions.size();
}

} // namespace dynamo::workload
