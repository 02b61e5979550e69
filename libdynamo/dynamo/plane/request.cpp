#include "dynamo/plane/request.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

namespace dynamo {

request_plane::~request_plane() = default;

caf::error validate_address(const instance_endpoint& address) {
  const auto& ep = address.endpoint;
  if (!is_valid_name(ep.ns) || !is_valid_name(ep.component) || !is_valid_name(ep.endpoint))
    return make_error(errc::invalid_request,
                      fmt::format("invalid endpoint name '{}'", ep.to_string()));
  if (address.instance.value == 0)
    return make_error(errc::invalid_request, "instance id 0 is reserved");
  return {};
}

} // namespace dynamo
