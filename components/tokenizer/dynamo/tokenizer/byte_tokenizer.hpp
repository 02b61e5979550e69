// A byte-level tokenizer: token i in 0..255 is byte i, plus <|bos|> and <|eos|>. Used by the
// simulated engines and tests, where exact round trips matter more than compression.
#pragma once

#include "dynamo/tokenizer/tokenizer.hpp"

namespace dynamo::tokenizer {

/// Byte-level vocabulary of 258 ids: bytes 0..255, then bos (256) and eos (257). Encoding any
/// byte string and decoding it back yields the same bytes. Immutable; any thread.
class byte_tokenizer final : public tokenizer {
public:
  /// Id of the <|bos|> special token.
  static constexpr token_id bos_id = 256;

  /// Id of the <|eos|> special token.
  static constexpr token_id eos_id = 257;

  /// Number of ids (256 bytes + 2 specials).
  static constexpr size_t vocabulary_size = 258;

  /// One id per byte of `text`.
  std::vector<token_id> encode(std::string_view text) const override;

  /// The bytes of `tokens`; specials are dropped when `skip_special`, otherwise rendered as
  /// "<|bos|>" / "<|eos|>"; ids >= 258 become U+FFFD.
  std::string decode(std::span<const token_id> tokens, bool skip_special = true) const override;

  /// 258.
  size_t vocab_size() const noexcept override { return vocabulary_size; }

  /// 257.
  std::optional<token_id> eos_token_id() const noexcept override { return eos_id; }

  /// 256.
  std::optional<token_id> bos_token_id() const noexcept override { return bos_id; }

  /// "byte".
  std::string_view name() const noexcept override { return "byte"; }

  /// A stream that emits only well-formed UTF-8 (see decode_stream).
  std::unique_ptr<decode_stream> make_decode_stream(bool skip_special = true) const override;
};

} // namespace dynamo::tokenizer
