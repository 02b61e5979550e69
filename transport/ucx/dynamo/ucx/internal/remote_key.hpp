// The UCX agent's remote_key: what a peer needs to reach one region (binary, host byte order:
// agents of one deployment share an architecture).
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo::ucx::internal {

/// The contents of a region descriptor's remote_key.
struct remote_key {
  std::string agent;           ///< Owner agent (must equal the descriptor's agent).
  uint64_t region_id = 0;      ///< Must equal the descriptor's region_id.
  uint64_t base = 0;           ///< Region start in the owner's address space.
  uint64_t size = 0;           ///< Region size (must equal the descriptor's size).
  std::string worker_address;  ///< The owner's packed UCP worker address.
  std::string rkey;            ///< The region's packed UCP rkey.

  friend bool operator==(const remote_key&, const remote_key&) = default;
};

/// Serialises `key`. Any thread.
std::string pack(const remote_key& key);

/// Parses pack()'s output strictly. Errors: invalid_request naming what is malformed.
/// Any thread.
caf::expected<remote_key> unpack(std::string_view bytes);

} // namespace dynamo::ucx::internal
