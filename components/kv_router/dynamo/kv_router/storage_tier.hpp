// Storage tiers of cached KV blocks (KVBM-style G1..G4): the router credits a prefix hit
// differently depending on where the block lives.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dynamo::kv_router {

/// Where a cached block lives; the router credits hits per tier (device > host > disk > remote).
enum class storage_tier : uint8_t { device = 0, host = 1, disk = 2, remote = 3 };

/// Number of storage_tier values; arrays indexed by tier have this size.
inline constexpr size_t storage_tier_count = 4;

/// "device", "host", "disk", "remote" ("unknown" for an out-of-range value). Any thread.
std::string_view to_string(storage_tier t) noexcept;

/// Parses to_string's names (exact, lower case). Any thread. Errors: invalid_request naming the
/// value.
caf::expected<storage_tier> parse_storage_tier(std::string_view s);

} // namespace dynamo::kv_router
