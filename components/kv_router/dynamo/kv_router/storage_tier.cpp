#include "dynamo/kv_router/storage_tier.hpp"

#include "dynamo/error.hpp"

#include <array>
#include <string>

namespace dynamo::kv_router {

namespace {

constexpr std::array<std::string_view, storage_tier_count> tier_names{"device", "host", "disk",
                                                                       "remote"};

} // namespace

std::string_view to_string(storage_tier t) noexcept {
  const auto i = static_cast<size_t>(t);
  return i < tier_names.size() ? tier_names[i] : std::string_view{"unknown"};
}

caf::expected<storage_tier> parse_storage_tier(std::string_view s) {
  for (size_t i = 0; i < tier_names.size(); ++i)
    if (tier_names[i] == s)
      return static_cast<storage_tier>(i);
  return make_error(errc::invalid_request,
                    "unknown storage tier '" + std::string{s}
                      + "' (expected device, host, disk or remote)");
}

} // namespace dynamo::kv_router
