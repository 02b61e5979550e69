#include "dynamo/tokenizer/unicode.hpp"

#include "dynamo/error.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace dynamo::tokenizer {

utf8_char next_char(std::string_view text, size_t pos) noexcept {
  utf8proc_int32_t cp = -1;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                            static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
  if (n <= 0 || cp < 0)
    return {U'\uFFFD', 1};
  return {static_cast<char32_t>(cp), static_cast<size_t>(n)};
}

void append_utf8(char32_t code_point, std::string& out) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(code_point), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string to_normal_form(std::string_view text, normal_form form) {
  if (text.empty())
    return {};
  int options = UTF8PROC_STABLE;
  switch (form) {
    case normal_form::nfc:
      options |= UTF8PROC_COMPOSE;
      break;
    case normal_form::nfd:
      options |= UTF8PROC_DECOMPOSE;
      break;
    case normal_form::nfkc:
      options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
      break;
    case normal_form::nfkd:
      options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
      break;
  }
  utf8proc_uint8_t* result = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                        static_cast<utf8proc_ssize_t>(text.size()), &result,
                        static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner{result, &std::free};
  if (n < 0)
    return std::string{text};  // ill-formed input: callers sanitize first, keep it unchanged
  return std::string{reinterpret_cast<const char*>(result), static_cast<size_t>(n)};
}

bool is_numeric(char32_t code_point) noexcept {
  auto category = utf8proc_category(static_cast<utf8proc_int32_t>(code_point));
  return category == UTF8PROC_CATEGORY_ND || category == UTF8PROC_CATEGORY_NL
         || category == UTF8PROC_CATEGORY_NO;
}

bool is_white_space(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
         || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
         || c == 0x205F || c == 0x3000;
}

bool is_word_char(char32_t code_point) noexcept {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(code_point))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

void replace_all(std::string_view text, std::string_view from, std::string_view to,
                 std::string& out) {
  if (from.empty())
    on_internal_error("replace_all called with an empty pattern");
  size_t pos = 0;
  while (true) {
    auto hit = text.find(from, pos);
    if (hit == std::string_view::npos)
      break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
}

} // namespace dynamo::tokenizer
