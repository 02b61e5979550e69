// The GPT-2 byte-level alphabet: every byte maps to one printable code point, so that byte
// strings become ordinary vocabulary strings ("Ġ" is the space byte).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

namespace detail {

/// GPT-2's bytes_to_unicode() table, computed at compile time.
constexpr std::array<char32_t, 256> make_byte_chars() noexcept {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    table[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

} // namespace detail

/// The split regex of GPT-2's ByteLevel pre-tokenizer (use_regex = true).
inline constexpr std::string_view gpt2_split_pattern =
  R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

/// The Split regex of Llama 3 (Qwen2 differs only in splitting digits one by one).
inline constexpr std::string_view llama3_split_pattern =
  R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

/// Code point of each byte in the byte-level alphabet.
inline constexpr std::array<char32_t, 256> byte_chars = detail::make_byte_chars();

/// The byte a byte-level code point stands for, if `code_point` is in the alphabet. Any thread.
std::optional<uint8_t> byte_of_char(char32_t code_point) noexcept;

/// Appends the byte-level rendering of `bytes` (each byte -> its code point, UTF-8) to `out`.
/// Any thread.
void append_byte_level(std::string_view bytes, std::string& out);

/// Appends the bytes a byte-level string stands for to `out` and returns true, or returns false
/// (leaving `out` unchanged) when some character of `text` is outside the alphabet. Any thread.
bool append_bytes_of(std::string_view text, std::string& out);

} // namespace dynamo::tokenizer
