// Added tokens (specials such as <|eot_id|> and plain added words): found in the input before
// normalization and pre-tokenization, as Hugging Face's AddedVocabulary does.
#pragma once

#include "dynamo/tokenizer/tokenizer.hpp"

#include <caf/expected.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dynamo::tokenizer {

/// One entry of tokenizer.json's "added_tokens".
struct added_token {
  token_id id = 0;           ///< Its id.
  std::string content;       ///< Literal text.
  bool special = false;      ///< Control token: skipped by decode(skip_special).
  bool lstrip = false;       ///< Swallows whitespace on its left.
  bool rstrip = false;       ///< Swallows whitespace on its right.
  bool single_word = false;  ///< Matches only outside words.
  bool normalized = false;   ///< Matched in normalized text instead of the raw input.
};

/// A stretch of input: plain text, or one added token.
struct added_split {
  size_t start = 0;                ///< Byte offset in the searched text.
  size_t end = 0;                  ///< One past the last byte.
  std::optional<token_id> token;   ///< The added token, or nullopt for plain text.
};

/// The added tokens of one tokenizer and the search over them. Immutable; any thread.
class added_vocabulary {
public:
  /// An empty vocabulary.
  added_vocabulary() = default;

  /// Indexes `tokens`; `normalized_content` gives the text a normalized token is searched as
  /// (its content run through the normalizer). Errors: invalid_request for empty content or a
  /// repeated id.
  template <class Normalize>
  static caf::expected<added_vocabulary> create(std::vector<added_token> tokens,
                                                Normalize&& normalized_content) {
    added_vocabulary result;
    if (auto err = result.init(std::move(tokens)))
      return err;
    for (const auto& t : result.tokens_)
      if (t.normalized)
        result.add_pattern(normalized_content(t.content), t.id, true);
    return result;
  }

  /// Splits `text` into plain stretches and added tokens (leftmost, longest first). With
  /// `normalized` the normalized tokens are searched, otherwise the raw ones. Special tokens
  /// are ignored (left in the plain text) unless `match_special`.
  std::vector<added_split> split(std::string_view text, bool normalized,
                                 bool match_special) const;

  /// The added token with `id`, or nullptr.
  const added_token* find(token_id id) const noexcept;

  /// The added token whose content is `content`, or nullptr.
  const added_token* find(std::string_view content) const noexcept;

  /// All added tokens, in the order given.
  const std::vector<added_token>& tokens() const noexcept { return tokens_; }

private:
  struct pattern {
    std::string text;
    size_t token;  // index into tokens_
  };

  caf::error init(std::vector<added_token> tokens);
  void add_pattern(std::string text, token_id id, bool normalized);

  std::vector<added_token> tokens_;
  std::unordered_map<token_id, size_t> by_id_;
  // Patterns bucketed by first byte, longest first; [0] raw, [1] normalized.
  std::array<std::unordered_map<unsigned char, std::vector<pattern>>, 2> patterns_;
};

} // namespace dynamo::tokenizer
