#include "dynamo/tokenizer/byte_level.hpp"

#include "dynamo/tokenizer/unicode.hpp"

namespace dynamo::tokenizer {

namespace {

/// Largest code point of the alphabet: 255 + the 68 remapped bytes.
constexpr char32_t max_byte_char = 323;

constexpr std::array<int16_t, max_byte_char + 1> make_char_bytes() noexcept {
  std::array<int16_t, max_byte_char + 1> table{};
  for (auto& x : table)
    x = -1;
  for (uint32_t b = 0; b < 256; ++b)
    table[byte_chars[b]] = static_cast<int16_t>(b);
  return table;
}

constexpr auto char_bytes = make_char_bytes();

/// UTF-8 of each byte's code point, built once per call site need (2 bytes at most).
struct encoded_byte_chars {
  std::array<std::array<char, 2>, 256> bytes{};
  std::array<uint8_t, 256> sizes{};
  constexpr encoded_byte_chars() noexcept {
    for (uint32_t b = 0; b < 256; ++b) {
      auto cp = byte_chars[b];
      if (cp < 0x80) {
        bytes[b][0] = static_cast<char>(cp);
        sizes[b] = 1;
      } else {
        bytes[b][0] = static_cast<char>(0xC0 | (cp >> 6));
        bytes[b][1] = static_cast<char>(0x80 | (cp & 0x3F));
        sizes[b] = 2;
      }
    }
  }
};

constexpr encoded_byte_chars encoded{};

} // namespace

std::optional<uint8_t> byte_of_char(char32_t code_point) noexcept {
  if (code_point > max_byte_char || char_bytes[code_point] < 0)
    return std::nullopt;
  return static_cast<uint8_t>(char_bytes[code_point]);
}

void append_byte_level(std::string_view bytes, std::string& out) {
  out.reserve(out.size() + bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<uint8_t>(c);
    out.append(encoded.bytes[b].data(), encoded.sizes[b]);
  }
}

bool append_bytes_of(std::string_view text, std::string& out) {
  auto old_size = out.size();
  for (size_t pos = 0; pos < text.size();) {
    auto ch = next_char(text, pos);
    auto byte = byte_of_char(ch.code_point);
    if (!byte) {
      out.resize(old_size);
      return false;
    }
    out.push_back(static_cast<char>(*byte));
    pos += ch.size;
  }
  return true;
}

} // namespace dynamo::tokenizer
