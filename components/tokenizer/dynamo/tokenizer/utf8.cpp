#include "dynamo/tokenizer/utf8.hpp"

namespace dynamo::tokenizer {

void utf8_sanitizer::reset() noexcept {
  pending_size_ = 0;
  needed_ = 0;
  lower_ = 0x80;
  upper_ = 0xBF;
}

void utf8_sanitizer::push(std::string_view bytes, std::string& out) {
  out.reserve(out.size() + bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    auto byte = static_cast<uint8_t>(bytes[i]);
    if (needed_ == 0) {
      ++i;
      if (byte < 0x80) {
        out.push_back(static_cast<char>(byte));
        continue;
      }
      if (byte >= 0xC2 && byte <= 0xDF) {
        needed_ = 1;
      } else if (byte >= 0xE0 && byte <= 0xEF) {
        needed_ = 2;
        if (byte == 0xE0)
          lower_ = 0xA0;  // overlong
        else if (byte == 0xED)
          upper_ = 0x9F;  // surrogates
      } else if (byte >= 0xF0 && byte <= 0xF4) {
        needed_ = 3;
        if (byte == 0xF0)
          lower_ = 0x90;  // overlong
        else if (byte == 0xF4)
          upper_ = 0x8F;  // above U+10FFFF
      } else {
        out += replacement_character;  // stray continuation, C0, C1 or F5..FF
        continue;
      }
      pending_[pending_size_++] = static_cast<char>(byte);
      continue;
    }
    if (byte < lower_ || byte > upper_) {
      // The held bytes are a maximal subpart; `byte` starts afresh (do not advance).
      out += replacement_character;
      reset();
      continue;
    }
    ++i;
    pending_[pending_size_++] = static_cast<char>(byte);
    lower_ = 0x80;
    upper_ = 0xBF;
    if (--needed_ == 0) {
      out.append(pending_, pending_size_);
      reset();
    }
  }
}

std::string utf8_sanitizer::push(std::string_view bytes) {
  std::string out;
  push(bytes, out);
  return out;
}

std::string utf8_sanitizer::flush() {
  std::string out;
  if (pending_size_ > 0)
    out = replacement_character;
  reset();
  return out;
}

std::string sanitize_utf8(std::string_view text) {
  utf8_sanitizer sanitizer;
  auto out = sanitizer.push(text);
  out += sanitizer.flush();
  return out;
}

bool is_valid_utf8(std::string_view text) noexcept {
  size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<uint8_t>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    size_t needed = 0;
    uint8_t lower = 0x80;
    uint8_t upper = 0xBF;
    if (byte >= 0xC2 && byte <= 0xDF) {
      needed = 1;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      needed = 2;
      lower = byte == 0xE0 ? 0xA0 : 0x80;
      upper = byte == 0xED ? 0x9F : 0xBF;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      needed = 3;
      lower = byte == 0xF0 ? 0x90 : 0x80;
      upper = byte == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (text.size() - i - 1 < needed)
      return false;
    for (size_t k = 1; k <= needed; ++k) {
      auto next = static_cast<uint8_t>(text[i + k]);
      if (next < lower || next > upper)
        return false;
      lower = 0x80;
      upper = 0xBF;
    }
    i += needed + 1;
  }
  return true;
}

} // namespace dynamo::tokenizer
