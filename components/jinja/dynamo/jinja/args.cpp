// Argument binding for builtins and Python-compatible number parsing.
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace dynamo::jinja {

arg_reader::arg_reader(std::string_view function, call_args args,
                       std::initializer_list<std::string_view> names)
  : function_(function), names_(names), bound_(names.size()) {
  if (args.positional.size() > names_.size())
    fail(fmt::format("{}() takes at most {} argument(s) ({} given)", function_, names_.size(),
                     args.positional.size()));
  for (size_t i = 0; i < args.positional.size(); ++i)
    bound_[i] = std::move(args.positional[i]);
  for (auto& [name, v] : args.keyword) {
    auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end())
      fail(fmt::format("{}() got an unexpected keyword argument '{}'", function_, name));
    auto& slot = bound_[static_cast<size_t>(it - names_.begin())];
    if (slot)
      fail(fmt::format("{}() got multiple values for argument '{}'", function_, name));
    slot = std::move(v);
  }
}

value arg_reader::get(size_t i, value fallback) const {
  return has(i) ? *bound_[i] : std::move(fallback);
}

std::string arg_reader::get_string(size_t i, std::string fallback) const {
  if (!has(i))
    return fallback;
  const auto& v = *bound_[i];
  if (!v.is_string())
    fail(fmt::format("{}(): argument '{}' must be a string, not '{}'", function_, names_[i],
                     type_name(v)));
  return v.str();
}

std::optional<std::string> arg_reader::get_optional_string(size_t i) const {
  if (!has(i) || bound_[i]->is_none() || bound_[i]->is_undefined())
    return std::nullopt;
  return get_string(i, {});
}

int64_t arg_reader::get_int(size_t i, int64_t fallback) const {
  if (!has(i))
    return fallback;
  auto n = as_int(*bound_[i]);
  if (!n)
    fail(fmt::format("{}(): argument '{}' must be an integer, not '{}'", function_, names_[i],
                     type_name(*bound_[i])));
  return *n;
}

bool arg_reader::get_bool(size_t i, bool fallback) const {
  return has(i) ? truthy(*bound_[i]) : fallback;
}

namespace {

std::string_view trim_ascii(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || (s.front() >= '\t' && s.front() <= '\r')))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || (s.back() >= '\t' && s.back() <= '\r')))
    s.remove_suffix(1);
  return s;
}

} // namespace

std::optional<int64_t> parse_int(std::string_view text) {
  auto s = trim_ascii(text);
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  int64_t out = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || res.ec != std::errc{} || res.ptr != s.data() + s.size())
    return std::nullopt;
  return out;
}

std::optional<double> parse_float(std::string_view text) {
  auto s = trim_ascii(text);
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  double out = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || res.ec != std::errc{} || res.ptr != s.data() + s.size())
    return std::nullopt;
  return out;
}

} // namespace dynamo::jinja
