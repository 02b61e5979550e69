#include "dynamo/plane/registration.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ids.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace dynamo {

namespace {

constexpr std::string_view endpoints_key = "endpoints";
constexpr std::string_view rpc_address_key = "rpc_address";
constexpr std::string_view data_address_key = "data_address";
constexpr std::string_view model_key = "model";
constexpr std::string_view kv_block_size_key = "kv_block_size";
constexpr std::string_view total_kv_blocks_key = "total_kv_blocks";
constexpr std::string_view hash_scheme_key = "hash_scheme";
constexpr std::string_view max_num_seqs_key = "max_num_seqs";
constexpr std::string_view model_path_key = "model_path";

constexpr std::array reserved_keys{endpoints_key,     rpc_address_key,     data_address_key,
                                   model_key,         kv_block_size_key,   total_kv_blocks_key,
                                   hash_scheme_key,   max_num_seqs_key,    model_path_key};

// Values longer than this are not a version or count anyone publishes; shown truncated.
constexpr size_t max_shown = 64;

std::string shown(std::string_view value) {
  if (value.size() <= max_shown)
    return std::string{value};
  return fmt::format("{}... ({} bytes)", value.substr(0, max_shown), value.size());
}

caf::error bad(std::string_view key, std::string what) {
  return make_error(errc::invalid_request,
                    fmt::format("malformed registration metadata: '{}' {}", key, what));
}

/// Canonical unsigned decimal (no sign, no leading zeros, no spaces) that fits `T`.
template <class T>
std::optional<T> parse_decimal(std::string_view text) {
  if (text.empty() || (text.size() > 1 && text.front() == '0'))
    return std::nullopt;
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || text.front() == '-' || text.front() == '+')
    return std::nullopt;
  return value;
}

template <class T>
caf::expected<T> number_at(std::string_view key, std::string_view value, T min) {
  auto n = parse_decimal<T>(value);
  if (!n)
    return bad(key, fmt::format("is not a decimal number in [{}, {}]: '{}'", min,
                                std::numeric_limits<T>::max(), shown(value)));
  if (*n < min)
    return bad(key, fmt::format("must be at least {}, got {}", min, *n));
  return *n;
}

caf::error parse_endpoints(std::string_view list, std::map<std::string, uint32_t>& out) {
  if (list.empty())
    return caf::none;
  size_t pos = 0;
  while (pos <= list.size()) {
    auto comma = list.find(',', pos);
    auto entry = list.substr(pos, comma == std::string_view::npos ? list.npos : comma - pos);
    pos = comma == std::string_view::npos ? list.size() + 1 : comma + 1;
    auto at = entry.find('@');
    auto name = entry.substr(0, at);
    if (!is_valid_name(name))
      return bad(endpoints_key, fmt::format("has an invalid endpoint name '{}'", shown(name)));
    uint32_t version = 1;
    if (at != std::string_view::npos) {
      auto text = entry.substr(at + 1);
      auto v = parse_decimal<uint32_t>(text);
      if (!v || *v == 0)
        return bad(endpoints_key, fmt::format("has an invalid interface version '{}' for '{}' "
                                              "(expected a decimal number >= 1)",
                                              shown(text), name));
      version = *v;
    }
    if (!out.emplace(std::string{name}, version).second)
      return bad(endpoints_key, fmt::format("lists endpoint '{}' twice", name));
  }
  return caf::none;
}

std::string render_endpoints(const std::map<std::string, uint32_t>& endpoints) {
  std::string result;
  for (const auto& [name, version] : endpoints) {
    if (!result.empty())
      result += ',';
    result += fmt::format("{}@{}", name, version);
  }
  return result;
}

} // namespace

bool is_reserved_registration_key(std::string_view key) noexcept {
  return std::find(reserved_keys.begin(), reserved_keys.end(), key) != reserved_keys.end();
}

bool is_valid_host_port(std::string_view address) noexcept {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return false;
  auto host = address.substr(0, colon);
  auto port = parse_decimal<uint32_t>(address.substr(colon + 1));
  if (!port || *port == 0 || *port > 65535)
    return false;
  auto printable = [](char c) { return c > ' ' && c != '\x7f'; };
  if (!std::all_of(host.begin(), host.end(), printable))
    return false;
  if (host.front() == '[')
    return host.size() > 2 && host.back() == ']'
           && host.substr(1, host.size() - 2).find_first_of("[]") == std::string_view::npos;
  return host.find_first_of(":[]") == std::string_view::npos;
}

std::map<std::string, std::string> instance_registration::to_metadata() const {
  std::map<std::string, std::string> result;
  for (const auto& [key, value] : extra)
    if (!key.empty() && !is_reserved_registration_key(key))
      result.emplace(key, value);
  auto put = [&result](std::string_view key, std::string value) {
    if (!value.empty())
      result.emplace(std::string{key}, std::move(value));
  };
  put(endpoints_key, render_endpoints(endpoints));
  put(rpc_address_key, rpc_address);
  put(data_address_key, data_address);
  put(model_key, capacity.model.value_or(""));
  put(hash_scheme_key, capacity.hash_scheme.value_or(""));
  put(model_path_key, capacity.model_path.value_or(""));
  if (capacity.kv_block_size)
    put(kv_block_size_key, std::to_string(*capacity.kv_block_size));
  if (capacity.total_kv_blocks)
    put(total_kv_blocks_key, std::to_string(*capacity.total_kv_blocks));
  if (capacity.max_num_seqs)
    put(max_num_seqs_key, std::to_string(*capacity.max_num_seqs));
  return result;
}

caf::expected<instance_registration>
instance_registration::from_metadata(const std::map<std::string, std::string>& metadata) {
  instance_registration result;
  for (const auto& [key, value] : metadata) {
    if (key.empty())
      return make_error(errc::invalid_request,
                        "malformed registration metadata: a key is empty");
    if (!is_reserved_registration_key(key)) {
      result.extra.emplace(key, value);
      continue;
    }
    if (key == endpoints_key) {
      if (auto err = parse_endpoints(value, result.endpoints))
        return err;
      continue;
    }
    if (value.empty())
      return bad(key, "is empty (omit the key instead)");
    if (key == rpc_address_key) {
      if (!is_valid_host_port(value))
        return bad(key, fmt::format("is not a \"host:port\" address: '{}'", shown(value)));
      result.rpc_address = value;
    } else if (key == data_address_key) {
      result.data_address = value;
    } else if (key == model_key) {
      result.capacity.model = value;
    } else if (key == hash_scheme_key) {
      result.capacity.hash_scheme = value;
    } else if (key == model_path_key) {
      result.capacity.model_path = value;
    } else if (key == kv_block_size_key) {
      auto n = number_at<uint32_t>(key, value, 1);
      if (!n)
        return std::move(n.error());
      result.capacity.kv_block_size = *n;
    } else if (key == total_kv_blocks_key) {
      auto n = number_at<uint64_t>(key, value, 0);
      if (!n)
        return std::move(n.error());
      result.capacity.total_kv_blocks = *n;
    } else if (key == max_num_seqs_key) {
      auto n = number_at<uint32_t>(key, value, 1);
      if (!n)
        return std::move(n.error());
      result.capacity.max_num_seqs = *n;
    } else {
      on_internal_error(fmt::format("registration key '{}' is reserved but not decoded", key));
    }
  }
  return result;
}

} // namespace dynamo
