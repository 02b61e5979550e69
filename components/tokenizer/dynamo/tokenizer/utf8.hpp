// UTF-8 validation and repair, in one-shot and incremental form. Ill-formed input is replaced
// with U+FFFD per maximal subpart (the Unicode / WHATWG "substitution of maximal subparts"
// practice): overlong forms, surrogates and code points above U+10FFFF are ill-formed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

/// The replacement character U+FFFD, UTF-8 encoded.
inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

/// True when `text` is well-formed UTF-8. Any thread.
bool is_valid_utf8(std::string_view text) noexcept;

/// Returns `text` with every ill-formed subsequence replaced by U+FFFD. Any thread.
std::string sanitize_utf8(std::string_view text);

/// Incremental UTF-8 repair: bytes go in piecewise, only well-formed UTF-8 comes out, and the
/// concatenated output equals sanitize_utf8 of the concatenated input. Holds at most 3 bytes of
/// an incomplete sequence between calls. Not thread-safe.
class utf8_sanitizer {
public:
  /// Appends `bytes`; returns the output that is final (an incomplete tail is held back).
  std::string push(std::string_view bytes);

  /// Appends `bytes` to `out` instead of returning a fresh string.
  void push(std::string_view bytes, std::string& out);

  /// Ends the input: returns U+FFFD if an incomplete sequence was held back, else "". Resets.
  std::string flush();

  /// True when an incomplete sequence is held back.
  bool pending() const noexcept { return pending_size_ > 0; }

private:
  void reset() noexcept;

  char pending_[4] = {};
  uint8_t pending_size_ = 0;
  uint8_t needed_ = 0;       // continuation bytes still missing
  uint8_t lower_ = 0x80;     // accepted range of the next continuation byte
  uint8_t upper_ = 0xBF;
};

} // namespace dynamo::tokenizer
