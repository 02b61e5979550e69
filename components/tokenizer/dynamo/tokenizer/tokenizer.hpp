// The tokenizer interface: text <-> token ids, plus incremental detokenization for streaming.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::tokenizer {

/// A token id in a tokenizer's vocabulary.
using token_id = uint32_t;

/// Turns a stream of generated tokens into text deltas. Every delta is valid UTF-8: an
/// incomplete trailing sequence is held back until it completes, and bytes that can no longer
/// form a valid sequence become U+FFFD. Not thread-safe: one stream belongs to one request.
class decode_stream {
public:
  virtual ~decode_stream();

  /// Feeds one token; returns the text that became final (possibly empty). Never fails: an id
  /// outside the vocabulary decodes to U+FFFD.
  virtual std::string push(token_id token) = 0;

  /// Ends the stream: returns whatever is held back, with U+FFFD for an incomplete tail.
  /// The stream is reset and may be reused afterwards.
  virtual std::string flush() = 0;
};

/// Maps text to token ids and back. Implementations are immutable after construction, so all
/// const members may be called from any thread concurrently.
class tokenizer {
public:
  virtual ~tokenizer();

  /// Encodes `text` (any bytes) to token ids. Never produces special tokens from plain text.
  virtual std::vector<token_id> encode(std::string_view text) const = 0;

  /// Encodes text in which the literal text of added/special tokens maps to their ids (a
  /// rendered chat template, a raw completion prompt), as Hugging Face tokenizers do by
  /// default. The default implementation is encode().
  virtual std::vector<token_id> encode_special(std::string_view text) const;

  /// Tokens the model's post-processor puts before an encoded prompt (e.g. BOS for Llama 2 and
  /// Llama 3); empty by default. Chat templates usually render these themselves.
  virtual std::vector<token_id> prompt_prefix() const;

  /// Decodes `tokens` to bytes. Special tokens are dropped when `skip_special`, otherwise
  /// rendered as their literal text. Ids outside the vocabulary decode to U+FFFD.
  virtual std::string decode(std::span<const token_id> tokens, bool skip_special = true) const = 0;

  /// Number of ids in the vocabulary, specials included; valid ids are [0, vocab_size()).
  virtual size_t vocab_size() const noexcept = 0;

  /// The end-of-sequence token, if the vocabulary has one.
  virtual std::optional<token_id> eos_token_id() const noexcept = 0;

  /// The beginning-of-sequence token, if the vocabulary has one.
  virtual std::optional<token_id> bos_token_id() const noexcept = 0;

  /// A short stable name for logs and metrics (e.g. "byte").
  virtual std::string_view name() const noexcept = 0;

  /// Starts an incremental decoder for one generated sequence. Specials are dropped when
  /// `skip_special`, otherwise rendered as their literal text.
  virtual std::unique_ptr<decode_stream> make_decode_stream(bool skip_special = true) const = 0;
};

} // namespace dynamo::tokenizer
