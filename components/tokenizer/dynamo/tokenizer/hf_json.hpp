// Shared helpers for reading the parts of a Hugging Face tokenizer.json. Parsers may throw
// nlohmann::json::exception on a mistyped field; parse_hf_tokenizer turns that into
// invalid_request.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

/// Largest token id accepted from a file (vocabularies are far smaller; this bounds memory).
inline constexpr uint32_t max_token_id = (1u << 24) - 1;

/// How deeply Sequence components may nest (bounds recursion on hostile files).
inline constexpr int max_nesting = 16;

/// `node` as a token id. Errors: invalid_request naming `component` unless it is an integer
/// in [0, max_token_id].
caf::expected<uint32_t> token_id_of(const nlohmann::json& node, std::string_view component);

/// invalid_request "unsupported <component> type '<type>'".
caf::error unsupported_type(std::string_view component, std::string_view type);

/// invalid_request "malformed <component>: <detail>".
caf::error malformed(std::string_view component, std::string_view detail);

/// The "type" string of a component object. Errors: invalid_request when missing.
caf::expected<std::string> type_of(const nlohmann::json& node, std::string_view component);

/// The string member `key`, or `fallback` when absent or null.
std::string string_or(const nlohmann::json& node, std::string_view key, std::string fallback);

/// The boolean member `key`, or `fallback` when absent or null.
bool bool_or(const nlohmann::json& node, std::string_view key, bool fallback);

/// A Replace/Split pattern object: {"String": s} or {"Regex": r}.
struct hf_pattern {
  std::string text;   ///< The literal string or the regex source.
  bool regex = false; ///< True for {"Regex": ...}.
};

/// Reads member `key` as an hf_pattern. Errors: invalid_request naming `component`.
caf::expected<hf_pattern> pattern_of(const nlohmann::json& node, std::string_view key,
                                     std::string_view component);

/// Walks a component that may be a "Sequence" of components: null adds nothing, a Sequence
/// recurses into its array `list_key` (at most max_nesting deep), any other type goes to
/// `leaf(node, type)`. Errors: invalid_request naming `component`, or what `leaf` returns.
template <class Json, class Leaf>
caf::error walk_sequence(const Json& node, std::string_view component, std::string_view list_key,
                         const Leaf& leaf, int depth = 0) {
  if (node.is_null())
    return {};
  if (depth > max_nesting)
    return malformed(component, "Sequence nested too deeply");
  auto type = type_of(node, component);
  if (!type)
    return std::move(type.error());
  if (*type != "Sequence")
    return leaf(node, *type);
  auto list = node.find(std::string{list_key});
  if (list == node.end() || !list->is_array())
    return malformed(component, "Sequence needs a \"" + std::string{list_key} + "\" array");
  for (const auto& child : *list)
    if (auto err = walk_sequence(child, component, list_key, leaf, depth + 1))
      return err;
  return {};
}

} // namespace dynamo::tokenizer
