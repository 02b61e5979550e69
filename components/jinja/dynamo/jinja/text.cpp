#include "dynamo/jinja/text.hpp"

#include "dynamo/jinja/diagnostics.hpp"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace dynamo::jinja {

namespace {

constexpr char32_t replacement = 0xFFFD;

// Decodes one code point at `i`, advancing it; ill-formed input yields U+FFFD for one byte.
char32_t next_code_point(std::string_view s, size_t& i) noexcept {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return replacement;
  }
  if (i + len > s.size()) {
    ++i;
    return replacement;
  }
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return replacement;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return replacement;
  }
  i += len;
  return cp;
}

bool is_cased(char32_t cp) noexcept {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL
         || cat == UTF8PROC_CATEGORY_LT;
}

char32_t to_upper(char32_t cp) noexcept {
  return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp)));
}

char32_t to_lower(char32_t cp) noexcept {
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

char32_t to_title(char32_t cp) noexcept {
  return static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(cp)));
}

template <class F>
std::string map_code_points(std::string_view text, F&& fn) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size())
    append_utf8(out, fn(next_code_point(text, i)));
  return out;
}

bool is_py_printable(char32_t cp) noexcept {
  if (cp == ' ')
    return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

void check_size(const std::string& out, size_t max_bytes) {
  if (out.size() > max_bytes)
    throw template_error(failure::limit,
                         fmt::format("value exceeds the limit of {} bytes", max_bytes));
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    auto start = i;
    char32_t cp = next_code_point(s, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else if (cp >= 0x80 && ensure_ascii) {
      if (cp >= 0x10000) {
        auto v = cp - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
      }
    } else if (cp == replacement) {
      append_utf8(out, cp);
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  out += '"';
}

void dumps_rec(std::string& out, const json& data, const dumps_options& opt, size_t level,
               size_t max_bytes) {
  check_size(out, max_bytes);
  auto newline = [&out, &opt](size_t depth) {
    out += '\n';
    for (size_t k = 0; k < depth; ++k)
      out += *opt.indent;
  };
  switch (data.type()) {
    case json::value_t::null: out += "null"; return;
    case json::value_t::boolean: out += data.get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: out += std::to_string(data.get<int64_t>()); return;
    case json::value_t::number_unsigned: out += std::to_string(data.get<uint64_t>()); return;
    case json::value_t::number_float: {
      double x = data.get<double>();
      if (std::isnan(x))
        out += "NaN";
      else if (std::isinf(x))
        out += x > 0 ? "Infinity" : "-Infinity";
      else
        out += py_float_repr(x);
      return;
    }
    case json::value_t::string:
      append_json_string(out, data.get_ref<const std::string&>(), opt.ensure_ascii);
      return;
    case json::value_t::array: {
      if (data.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const auto& item : data) {
        if (!first)
          out += opt.item_separator;
        first = false;
        if (opt.indent)
          newline(level + 1);
        dumps_rec(out, item, opt, level + 1, max_bytes);
      }
      if (opt.indent)
        newline(level);
      out += ']';
      return;
    }
    case json::value_t::object: {
      if (data.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::string*> keys;
      for (const auto& [key, unused] : data.items())
        keys.push_back(&key);
      if (opt.sort_keys)
        std::sort(keys.begin(), keys.end(),
                  [](const std::string* a, const std::string* b) { return *a < *b; });
      out += '{';
      bool first = true;
      for (const auto* key : keys) {
        if (!first)
          out += opt.item_separator;
        first = false;
        if (opt.indent)
          newline(level + 1);
        append_json_string(out, *key, opt.ensure_ascii);
        out += opt.key_separator;
        dumps_rec(out, data.at(*key), opt, level + 1, max_bytes);
      }
      if (opt.indent)
        newline(level);
      out += '}';
      return;
    }
    default:
      fail("tojson: unsupported value");
  }
}

} // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size())
    out.push_back(next_code_point(text, i));
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (auto cp : text)
    append_utf8(out, cp);
  return out;
}

size_t code_point_count(std::string_view text) noexcept {
  size_t n = 0;
  size_t i = 0;
  while (i < text.size()) {
    next_code_point(text, i);
    ++n;
  }
  return n;
}

bool is_py_space(char32_t cp) noexcept {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0
         || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029
         || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string py_upper(std::string_view text) {
  return map_code_points(text, to_upper);
}

std::string py_lower(std::string_view text) {
  return map_code_points(text, to_lower);
}

std::string py_title(std::string_view text) {
  bool previous_cased = false;
  return map_code_points(text, [&previous_cased](char32_t cp) {
    char32_t out = previous_cased ? to_lower(cp) : to_title(cp);
    previous_cased = is_cased(cp);
    return out;
  });
}

std::string py_capitalize(std::string_view text) {
  bool first = true;
  return map_code_points(text, [&first](char32_t cp) {
    char32_t out = first ? to_title(cp) : to_lower(cp);
    first = false;
    return out;
  });
}

std::string py_strip(std::string_view text, const std::optional<std::string>& chars,
                     strip_side side) {
  auto cps = decode_utf8(text);
  std::u32string set;
  if (chars)
    set = decode_utf8(*chars);
  auto strippable = [&chars, &set](char32_t cp) {
    return chars ? set.find(cp) != std::u32string::npos : is_py_space(cp);
  };
  size_t begin = 0;
  size_t end = cps.size();
  if (side != strip_side::right)
    while (begin < end && strippable(cps[begin]))
      ++begin;
  if (side != strip_side::left)
    while (end > begin && strippable(cps[end - 1]))
      --end;
  return encode_utf8(std::u32string_view{cps}.substr(begin, end - begin));
}

std::vector<std::string> py_split(std::string_view text, const std::optional<std::string>& sep,
                                  int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty())
      fail("split: empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      auto hit = text.find(*sep, pos);
      if (hit == std::string_view::npos)
        break;
      out.emplace_back(text.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    out.emplace_back(text.substr(pos));
    return out;
  }
  auto cps = decode_utf8(text);
  size_t i = 0;
  while (true) {
    while (i < cps.size() && is_py_space(cps[i]))
      ++i;
    if (i == cps.size())
      break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.push_back(encode_utf8(std::u32string_view{cps}.substr(i)));
      break;
    }
    size_t start = i;
    while (i < cps.size() && !is_py_space(cps[i]))
      ++i;
    out.push_back(encode_utf8(std::u32string_view{cps}.substr(start, i - start)));
  }
  return out;
}

std::string py_replace(std::string_view text, std::string_view old_text, std::string_view new_text,
                       int64_t count, size_t max_bytes) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new_text` before every code point and at the end.
    size_t i = 0;
    int64_t done = 0;
    while (i <= text.size()) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      if (i == text.size())
        break;
      auto start = i;
      next_code_point(text, i);
      out.append(text.substr(start, i - start));
      check_size(out, max_bytes);
    }
    check_size(out, max_bytes);
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    auto hit = text.find(old_text, pos);
    if (hit == std::string_view::npos)
      break;
    out.append(text.substr(pos, hit - pos));
    out += new_text;
    check_size(out, max_bytes);
    pos = hit + old_text.size();
    ++done;
  }
  out.append(text.substr(pos));
  check_size(out, max_bytes);
  return out;
}

std::string py_float_repr(double x) {
  if (std::isnan(x))
    return "nan";
  if (std::isinf(x))
    return x > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string_view sci{buf, static_cast<size_t>(res.ptr - buf)};
  bool negative = !sci.empty() && sci.front() == '-';
  if (negative)
    sci.remove_prefix(1);
  auto e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.')
      digits += c;
  int exp = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);
  std::string out = negative ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      auto int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1)
    out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out;
}

std::string py_string_repr(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  size_t i = 0;
  while (i < text.size()) {
    auto start = i;
    char32_t cp = next_code_point(text, i);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (is_py_printable(cp)) {
      out.append(text.substr(start, i - start));
    } else if (cp < 0x100) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(cp));
    } else if (cp < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(cp));
    }
  }
  out += quote;
  return out;
}

std::string py_str(const json& data) {
  switch (data.type()) {
    case json::value_t::string: return data.get<std::string>();
    default: return py_repr(data);
  }
}

std::string py_repr(const json& data) {
  switch (data.type()) {
    case json::value_t::null: return "None";
    case json::value_t::boolean: return data.get<bool>() ? "True" : "False";
    case json::value_t::number_integer: return std::to_string(data.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(data.get<uint64_t>());
    case json::value_t::number_float: return py_float_repr(data.get<double>());
    case json::value_t::string: return py_string_repr(data.get_ref<const std::string&>());
    case json::value_t::array: {
      std::string out = "[";
      bool first = true;
      for (const auto& item : data) {
        if (!first)
          out += ", ";
        first = false;
        out += py_repr(item);
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : data.items()) {
        if (!first)
          out += ", ";
        first = false;
        out += py_string_repr(key);
        out += ": ";
        out += py_repr(item);
      }
      return out + "}";
    }
    default: return "<unsupported>";
  }
}

std::string py_json_dumps(const json& data, const dumps_options& options, size_t max_bytes) {
  std::string out;
  dumps_rec(out, data, options, 0, max_bytes);
  check_size(out, max_bytes);
  return out;
}

} // namespace dynamo::jinja
