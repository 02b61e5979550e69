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

} // namespace dynamo::tokenizer
