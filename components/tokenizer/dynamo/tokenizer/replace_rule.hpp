// The "Replace" step that tokenizer.json uses both as a normalizer and as a decoder: every match
// of a literal or regex pattern becomes a fixed replacement text.
#pragma once

#include "dynamo/tokenizer/regex.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

/// Replaces every match of a literal or regex pattern with `content`. Immutable; any thread.
struct replace_rule {
  std::string literal;           ///< Used when `pattern` is empty.
  std::optional<regex> pattern;  ///< A regex pattern.
  std::string content;           ///< The replacement text.

  /// `text` with every match replaced.
  std::string apply(std::string_view text) const;
};

/// Reads a {"type": "Replace", "pattern": {...}, "content": ...} object. Errors:
/// invalid_request naming `component` (bad pattern, empty literal, regex that does not compile).
caf::expected<replace_rule> parse_replace_rule(const nlohmann::json& node,
                                               std::string_view component);

} // namespace dynamo::tokenizer
