// PCRE2 regular expressions as Hugging Face tokenizers use them: UTF + UCP semantics, JIT
// compiled, matched over well-formed UTF-8.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::tokenizer {

/// A compiled pattern. Immutable after compile(); find_all may run on any thread concurrently.
class regex {
public:
  /// Byte offsets [first, second) of one match.
  using match = std::pair<size_t, size_t>;

  /// Compiles `pattern` (PCRE2 syntax, UTF + UCP). Errors: invalid_request naming the pattern
  /// and PCRE2's message.
  static caf::expected<regex> compile(std::string_view pattern);

  /// Compiles `literal` so that it matches itself verbatim. Errors: invalid_request.
  static caf::expected<regex> literal(std::string_view literal);

  /// All non-overlapping, non-empty matches in `subject`, left to right. `subject` must be
  /// well-formed UTF-8 (it is not re-checked). Never fails: a match-time error (resource
  /// limits) ends the scan and treats the rest as unmatched.
  std::vector<match> find_all(std::string_view subject) const;

  /// The source pattern.
  const std::string& pattern() const noexcept { return pattern_; }

private:
  struct code;
  regex(std::shared_ptr<const code> compiled, std::string pattern);

  std::shared_ptr<const code> code_;
  std::string pattern_;
};

} // namespace dynamo::tokenizer
