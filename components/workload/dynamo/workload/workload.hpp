// The workload vocabulary shared by the generator, the Mooncake trace reader/writer and the load
// driver: a list of requests with their send times, session structure and prompt token ids.
#pragma once

#include <caf/error.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dynamo::workload {

/// One request of a workload.
struct request_spec {
  uint64_t id = 0;                     ///< Index in the workload (0-based, unique).
  double at_s = 0.0;                   ///< First turn / standalone: send time, seconds from start.
                                       ///< Later turn of a session: think time after the previous
                                       ///< turn of the session completed.
  uint64_t session = 0;                ///< 0 = standalone; turns of one session go in order.
  uint32_t turn = 0;                   ///< 0-based turn within the session.
  std::vector<uint32_t> prompt;        ///< Prompt token ids.
  uint32_t max_tokens = 16;            ///< Output length asked for (ignore_eos is set by the driver).
};

/// A whole workload: requests sorted by (session order, at_s) as generated.
struct workload {
  std::string name;                    ///< For reports ("mooncake:<file>", "shared-prefix", ...).
  std::vector<request_spec> requests;
};

/// Checks the structural invariants every consumer relies on: ids are 0..n-1 in order, prompts
/// are non-empty, max_tokens >= 1, times are finite and >= 0, and within each session turns are
/// 0, 1, 2, ... in request order. Any thread. Returns invalid_request naming the first offending
/// request and field.
caf::error validate(const workload& w);

/// Number of distinct sessions (session != 0) in `w`. Any thread; never fails.
uint64_t session_count(const workload& w);

} // namespace dynamo::workload
