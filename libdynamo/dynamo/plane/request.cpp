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

caf::error validate_serve(const instance_endpoint& address, const caf::actor& handler,
                          const caf::actor_system& sys) {
  if (auto err = validate_address(address))
    return err;
  if (!handler)
    return make_error(errc::invalid_request, "cannot serve an invalid actor handle",
                      address.to_string());
  if (&handler.home_system() != &sys)
    return make_error(errc::invalid_request,
                      "the handler belongs to another actor system than the request plane",
                      address.to_string());
  return {};
}

} // namespace dynamo
