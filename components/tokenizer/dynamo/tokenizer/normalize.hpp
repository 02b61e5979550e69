// Normalizers of the Hugging Face pipeline: NFC/NFD/NFKC/NFKD, Prepend, Replace, Sequence.
#pragma once

#include "dynamo/tokenizer/regex.hpp"
#include "dynamo/tokenizer/replace_rule.hpp"
#include "dynamo/tokenizer/unicode.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dynamo::tokenizer {

/// A normalizer chain (empty = identity). Immutable after construction; any thread.
class normalizer {
public:
  /// Prepends `prefix` to non-empty text.
  struct prepend {
    std::string prefix;  ///< Text put in front.
  };

  /// Replaces every match of a literal or regex pattern with `content`.
  using replace = replace_rule;

  /// One step of the chain.
  using step = std::variant<normal_form, prepend, replace>;

  /// The identity normalizer.
  normalizer() = default;

  /// A chain of `steps`, applied in order.
  explicit normalizer(std::vector<step> steps) : steps_(std::move(steps)) {}

  /// Parses tokenizer.json's "normalizer" (null = identity). Errors: invalid_request naming an
  /// unsupported type ("unsupported normalizer type 'Lowercase'") or a malformed field.
  static caf::expected<normalizer> from_json(const nlohmann::json& node);

  /// Normalizes well-formed UTF-8 `text`.
  std::string apply(std::string_view text) const;

  /// True when the chain does nothing.
  bool empty() const noexcept { return steps_.empty(); }

private:
  std::vector<step> steps_;
};

} // namespace dynamo::tokenizer
