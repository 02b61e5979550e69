#include "dynamo/ids.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <charconv>
#include <random>

namespace dynamo {

std::string instance_id::to_string() const {
  return fmt::format("{:016x}", value);
}

caf::expected<instance_id> instance_id::parse(std::string_view text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (text.empty() || text.size() > 16 || ec != std::errc{} || ptr != text.data() + text.size())
    return make_error(errc::invalid_request, fmt::format("malformed instance id '{}'", text));
  return instance_id{v};
}

std::string component_id::to_string() const {
  return ns + '.' + component;
}

std::string endpoint_id::to_string() const {
  return ns + '.' + component + '.' + endpoint;
}

bool is_valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128)
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

caf::expected<endpoint_id> endpoint_id::parse(std::string_view text) {
  auto original = text;
  if (text.starts_with("dyn://"))
    text.remove_prefix(6);
  auto first = text.find('.');
  auto second = first == std::string_view::npos ? first : text.find('.', first + 1);
  if (second == std::string_view::npos)
    return make_error(errc::invalid_request,
                      fmt::format("endpoint '{}' is not of the form namespace.component.endpoint",
                                  original));
  endpoint_id result{std::string{text.substr(0, first)},
                     std::string{text.substr(first + 1, second - first - 1)},
                     std::string{text.substr(second + 1)}};
  if (!is_valid_name(result.ns) || !is_valid_name(result.component)
      || !is_valid_name(result.endpoint))
    return make_error(errc::invalid_request,
                      fmt::format("endpoint '{}' has an empty or invalid name part", original));
  return result;
}

std::string instance_endpoint::to_string() const {
  return endpoint.to_string() + '/' + instance.to_string();
}

instance_id make_instance_id(uint64_t seed) {
  std::mt19937_64 gen{seed};
  uint64_t v = 0;
  while (v == 0)
    v = gen();
  return instance_id{v};
}

instance_id random_instance_id() {
  std::random_device rd;
  uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return make_instance_id(seed);
}

} // namespace dynamo
