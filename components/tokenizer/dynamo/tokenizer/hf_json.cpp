#include "dynamo/tokenizer/hf_json.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {

caf::error unsupported_type(std::string_view component, std::string_view type) {
  return make_error(errc::invalid_request,
                    fmt::format("unsupported {} type '{}'", component, type));
}

caf::error malformed(std::string_view component, std::string_view detail) {
  return make_error(errc::invalid_request, fmt::format("malformed {}: {}", component, detail));
}

caf::expected<uint32_t> token_id_of(const nlohmann::json& node, std::string_view component) {
  if (!node.is_number_integer() || node.get<int64_t>() < 0
      || node.get<int64_t>() > static_cast<int64_t>(max_token_id))
    return malformed(component, fmt::format("bad token id {}", node.dump()));
  return node.get<uint32_t>();
}

caf::expected<std::string> type_of(const nlohmann::json& node, std::string_view component) {
  if (!node.is_object())
    return malformed(component, "expected an object");
  auto i = node.find("type");
  if (i == node.end() || !i->is_string())
    return malformed(component, "missing \"type\"");
  return i->get<std::string>();
}

std::string string_or(const nlohmann::json& node, std::string_view key, std::string fallback) {
  auto i = node.find(key);
  if (i == node.end() || i->is_null())
    return fallback;
  return i->get<std::string>();
}

bool bool_or(const nlohmann::json& node, std::string_view key, bool fallback) {
  auto i = node.find(key);
  if (i == node.end() || i->is_null())
    return fallback;
  return i->get<bool>();
}

caf::expected<hf_pattern> pattern_of(const nlohmann::json& node, std::string_view key,
                                     std::string_view component) {
  auto i = node.find(key);
  if (i == node.end() || !i->is_object())
    return malformed(component, fmt::format("missing \"{}\" pattern object", key));
  if (auto s = i->find("String"); s != i->end())
    return hf_pattern{s->get<std::string>(), false};
  if (auto r = i->find("Regex"); r != i->end())
    return hf_pattern{r->get<std::string>(), true};
  return malformed(component, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

} // namespace dynamo::tokenizer
