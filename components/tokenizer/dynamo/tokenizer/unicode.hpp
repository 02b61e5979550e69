// Code point helpers for the Hugging Face tokenizer pipeline: UTF-8 stepping, NFC, and the
// character classes the pre-tokenizers use. Input must be well-formed UTF-8 (see utf8.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

/// One decoded code point and the number of bytes it occupies.
struct utf8_char {
  char32_t code_point = 0;  ///< The scalar value (U+FFFD for an ill-formed byte).
  size_t size = 1;          ///< Bytes consumed, at least 1.
};

/// Decodes the code point starting at `pos` (< text.size()). Ill-formed bytes decode to U+FFFD
/// of size 1, so stepping always makes progress. Any thread.
utf8_char next_char(std::string_view text, size_t pos) noexcept;

/// Appends the UTF-8 encoding of `code_point` to `out`. Any thread.
void append_utf8(char32_t code_point, std::string& out);

/// Unicode normalization forms.
enum class normal_form : uint8_t { nfc, nfd, nfkc, nfkd };

/// `text` (well-formed UTF-8) in normalization form `form` (via utf8proc). Any thread.
std::string to_normal_form(std::string_view text, normal_form form);

/// Unicode Normalization Form C of well-formed UTF-8 `text`. Any thread.
inline std::string to_nfc(std::string_view text) {
  return to_normal_form(text, normal_form::nfc);
}

/// True for general categories Nd, Nl and No (Rust's char::is_numeric). Any thread.
bool is_numeric(char32_t code_point) noexcept;

/// True for the Unicode White_Space property (Rust's char::is_whitespace). Any thread.
bool is_white_space(char32_t code_point) noexcept;

/// True for regex word characters: letters, marks, decimal digits, connector punctuation.
/// Any thread.
bool is_word_char(char32_t code_point) noexcept;

/// Appends `text` with every occurrence of `from` (non-empty) replaced by `to`. Any thread.
void replace_all(std::string_view text, std::string_view from, std::string_view to,
                 std::string& out);

} // namespace dynamo::tokenizer
