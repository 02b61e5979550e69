#include "dynamo/plane/discovery.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

namespace dynamo {

discovery_plane::~discovery_plane() = default;

std::string discovery_record::key() const {
  return discovery_prefix(component) + instance.to_string();
}

std::string discovery_prefix(const component_id& component) {
  return component.ns + '/' + component.component + '/';
}

caf::error validate_record(const discovery_record& rec) {
  if (!is_valid_name(rec.component.ns))
    return make_error(errc::invalid_request,
                      fmt::format("invalid namespace name '{}'", rec.component.ns));
  if (!is_valid_name(rec.component.component))
    return make_error(errc::invalid_request,
                      fmt::format("invalid component name '{}'", rec.component.component));
  if (rec.instance.value == 0)
    return make_error(errc::invalid_request, "instance id 0 is reserved");
  for (const auto& [key, value] : rec.metadata)
    if (key.empty())
      return make_error(errc::invalid_request, "metadata keys must not be empty");
  return {};
}

caf::error validate_registration(const discovery_record& rec, const lease_options& opts) {
  if (auto err = validate_record(rec))
    return err;
  if (opts.ttl < min_lease_ttl)
    return make_error(errc::invalid_request,
                      fmt::format("lease ttl must be at least {} ms", min_lease_ttl.count()),
                      fmt::format("ttl {} ms", opts.ttl.count()));
  return {};
}

} // namespace dynamo
