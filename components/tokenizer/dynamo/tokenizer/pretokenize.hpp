// Pre-tokenizers of the Hugging Face pipeline: ByteLevel, Split, Digits, Metaspace, Sequence.
// They cut normalized text into the words the BPE model encodes one by one.
#pragma once

#include "dynamo/tokenizer/regex.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dynamo::tokenizer {

/// A stretch of text on its way to the model.
struct text_piece {
  std::string text;       ///< The (normalized) text.
  bool at_start = false;  ///< True when it begins at offset 0 of the original input.
};

/// What a split does with the pieces that match its pattern (HF SplitDelimiterBehavior).
enum class split_behavior : uint8_t {
  removed,              ///< Matches are dropped.
  isolated,             ///< Matches become pieces of their own.
  merged_with_previous, ///< A match joins the piece before it.
  merged_with_next,     ///< A match joins the piece after it.
  contiguous,           ///< Adjacent matches form one piece.
};

/// Byte range [start, end) of `text` and whether the pattern matched it.
struct text_span {
  size_t start = 0;       ///< First byte.
  size_t end = 0;         ///< One past the last byte.
  bool is_match = false;  ///< Whether the pattern matched this span.
};

/// Appends the sub-pieces of `piece` that `spans` (covering it in order) and `behavior` yield;
/// empty sub-pieces are dropped. Any thread.
void split_piece(const text_piece& piece, const std::vector<text_span>& spans,
                 split_behavior behavior, std::vector<text_piece>& out);

/// A pre-tokenizer chain (empty = the whole text is one word). Immutable; any thread.
class pre_tokenizer {
public:
  /// ByteLevel: optional leading space, optional GPT-2 regex split, bytes -> alphabet.
  struct byte_level {
    bool add_prefix_space = false;  ///< Put a space before pieces that lack one.
    std::optional<regex> split;     ///< The GPT-2 regex when use_regex.
  };

  /// Split by a literal or regex pattern.
  struct split {
    regex pattern;                                       ///< Literal or regex delimiter.
    split_behavior behavior = split_behavior::isolated;  ///< What happens to matches.
    bool invert = false;                                 ///< Swap matches and the rest.
  };

  /// Digits: numeric characters isolated one by one or in runs.
  struct digits {
    bool individual = false;  ///< One piece per digit instead of per run.
  };

  /// Whether Metaspace adds the replacement in front of a piece.
  enum class prepend_scheme : uint8_t { always, first, never };

  /// Metaspace: spaces -> replacement, optional prefix, optional split before replacements.
  struct metaspace {
    std::string replacement = "\xE2\x96\x81";         ///< Stands for a space ("▁").
    prepend_scheme scheme = prepend_scheme::always;  ///< When to prefix a piece.
    bool split = true;                               ///< Split before each replacement.
  };

  /// One step of the chain.
  using step = std::variant<byte_level, split, digits, metaspace>;

  /// The empty chain.
  pre_tokenizer() = default;

  /// A chain of `steps`, applied in order.
  explicit pre_tokenizer(std::vector<step> steps) : steps_(std::move(steps)) {}

  /// Parses tokenizer.json's "pre_tokenizer" (null = empty chain). Errors: invalid_request
  /// naming an unsupported type ("unsupported pre_tokenizer type 'Whitespace'"), an invalid
  /// regex or a malformed field.
  static caf::expected<pre_tokenizer> from_json(const nlohmann::json& node);

  /// Splits `pieces` in place into words.
  void apply(std::vector<text_piece>& pieces) const;

  /// True when the chain does nothing.
  bool empty() const noexcept { return steps_.empty(); }

private:
  std::vector<step> steps_;
};

} // namespace dynamo::tokenizer
