// Addressing: namespace.component.endpoint, and instance ids that tell replicas apart.
#pragma once

#include <caf/expected.hpp>

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace dynamo {

/// A 64-bit instance id, unique per running copy of a component. Rendered as 16 hex digits.
struct instance_id {
  uint64_t value = 0;
  auto operator<=>(const instance_id&) const = default;
  /// Lower-case 16-digit hex rendering.
  std::string to_string() const;
  /// Parses to_string()'s output; invalid_request on malformed input.
  static caf::expected<instance_id> parse(std::string_view text);
};

/// A `namespace.component` pair naming a component (all its replicas).
struct component_id {
  std::string ns;
  std::string component;
  auto operator<=>(const component_id&) const = default;
  /// "ns.component".
  std::string to_string() const;
};

/// `namespace.component.endpoint`: one entry point of a component.
struct endpoint_id {
  std::string ns;
  std::string component;
  std::string endpoint;
  auto operator<=>(const endpoint_id&) const = default;
  /// The owning component.
  component_id owner() const { return {ns, component}; }
  /// "ns.component.endpoint".
  std::string to_string() const;
  /// Parses "ns.component.endpoint" (also accepts a "dyn://" prefix). Each part must be a
  /// non-empty [A-Za-z0-9_-]+ name; otherwise invalid_request.
  static caf::expected<endpoint_id> parse(std::string_view text);
};

/// An endpoint of one particular instance.
struct instance_endpoint {
  endpoint_id endpoint;
  instance_id instance;
  auto operator<=>(const instance_endpoint&) const = default;
  /// "ns.component.endpoint/0123456789abcdef".
  std::string to_string() const;
};

/// True when `name` is a valid namespace, component or endpoint name ([A-Za-z0-9_-]+).
bool is_valid_name(std::string_view name) noexcept;

/// Draws a random non-zero instance id from a seeded generator owned by the caller.
instance_id make_instance_id(uint64_t seed);

/// Draws a random non-zero instance id from std::random_device.
instance_id random_instance_id();

} // namespace dynamo

template <>
struct std::hash<dynamo::instance_id> {
  size_t operator()(const dynamo::instance_id& x) const noexcept {
    return std::hash<uint64_t>{}(x.value);
  }
};
