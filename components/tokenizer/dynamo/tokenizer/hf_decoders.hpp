// Decoders of the Hugging Face pipeline: token strings back to text. ByteLevel, Metaspace,
// Replace, ByteFallback, Fuse, Strip and Sequence, with the exact semantics of `tokenizers`.
#pragma once

#include "dynamo/tokenizer/regex.hpp"
#include "dynamo/tokenizer/replace_rule.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace dynamo::tokenizer {

/// A decoder chain. Without steps (tokenizer.json "decoder": null) tokens are joined with
/// spaces, as `tokenizers` does. Immutable; any thread.
class hf_decoder {
public:
  /// Byte-level strings back to bytes, then lossy UTF-8.
  struct byte_level {};

  /// Replacement character back to spaces; the first token loses its replacements unless the
  /// prepend scheme is "never".
  struct metaspace {
    char32_t replacement = U'\u2581';  ///< The character that stands for a space.
    bool strip_first = true;            ///< False for prepend_scheme "never".
  };

  /// Replaces a literal or regex pattern in every token.
  using replace = replace_rule;

  /// Runs of <0xNN> tokens become their bytes (one U+FFFD per byte when not valid UTF-8).
  struct byte_fallback {};

  /// Joins all tokens into one.
  struct fuse {};

  /// Removes up to `start` leading and `stop` trailing `content` characters of each token.
  struct strip {
    char32_t content = U' ';  ///< The character removed.
    size_t start = 0;         ///< At most this many from the front.
    size_t stop = 0;          ///< At most this many from the back.
  };

  /// One step of the chain.
  using step = std::variant<byte_level, metaspace, replace, byte_fallback, fuse, strip>;

  /// The null decoder.
  hf_decoder() = default;

  /// A chain of `steps`.
  explicit hf_decoder(std::vector<step> steps) : steps_(std::move(steps)) {}

  /// Parses tokenizer.json's "decoder" (null = join with spaces). Errors: invalid_request
  /// naming an unsupported type ("unsupported decoder type 'WordPiece'") or a bad field.
  static caf::expected<hf_decoder> from_json(const nlohmann::json& node);

  /// Decodes token strings to text (always well-formed UTF-8).
  std::string decode(std::vector<std::string> tokens) const;

private:
  std::vector<step> steps_;
};

} // namespace dynamo::tokenizer
