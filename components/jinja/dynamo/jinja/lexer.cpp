#include "dynamo/jinja/lexer.hpp"

#include "dynamo/jinja/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace dynamo::jinja {

namespace {

constexpr std::array<std::string_view, 6> two_char_ops = {"//", "**", "==", "!=", ">=", "<="};
constexpr std::string_view one_char_ops = "+-/*%~[](){}><=.:|,;";

bool is_ws(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
         || (c >= 0x1C && c <= 0x1F);
}

bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_name_char(char c) noexcept {
  return is_name_start(c) || is_digit(c);
}

int hex_value(char c) noexcept {
  if (is_digit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Newlines become "\n" and one trailing newline is dropped (keep_trailing_newline=False).
std::string normalize(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n')
        ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

class lexer {
public:
  lexer(std::string_view source, const lexer_options& options)
    : src_(normalize(source)), options_(options) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n')
        line_starts_.push_back(i + 1);
  }

  std::vector<token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t tag = find_tag(pos);
      std::string_view text{src_.data() + pos, (tag == npos ? src_.size() : tag) - pos};
      if (tag == npos) {
        emit_text(text, pos);
        break;
      }
      char kind = src_[tag + 1];
      char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        while (!text.empty() && is_ws(text.back()))
          text.remove_suffix(1);
      } else if (sign != '+' && options_.lstrip_blocks && kind != '{') {
        auto nl = text.rfind('\n');
        size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting) {
          auto tail = text.substr(l_pos);
          if (!tail.empty() && std::all_of(tail.begin(), tail.end(), is_ws))
            text = text.substr(0, l_pos);
        }
      }
      emit_text(text, pos);
      size_t body = tag + 2 + (sign == '-' || sign == '+' ? 1 : 0);
      if (kind == '#')
        pos = lex_comment(tag, body);
      else
        pos = lex_tag(tag, body, kind == '%');
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    tokens_.push_back(token{token_kind::eof, {}, 0, 0, pos_at(src_.size())});
    return std::move(tokens_);
  }

private:
  static constexpr size_t npos = std::string::npos;

  source_pos pos_at(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    auto line = static_cast<size_t>(it - line_starts_.begin());
    return {static_cast<uint32_t>(line),
            static_cast<uint32_t>(offset - line_starts_[line - 1] + 1)};
  }

  [[noreturn]] void error(size_t offset, std::string message) const {
    throw template_error(failure::syntax, std::move(message), pos_at(offset));
  }

  bool starts_with(size_t pos, std::string_view s) const {
    return std::string_view{src_}.substr(pos, s.size()) == s;
  }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    return npos;
  }

  void emit_text(std::string_view text, size_t offset) {
    if (!text.empty())
      tokens_.push_back(token{token_kind::text, std::string{text}, 0, 0, pos_at(offset)});
  }

  void emit(token_kind kind, std::string text, size_t offset) {
    tokens_.push_back(token{kind, std::move(text), 0, 0, pos_at(offset)});
  }

  size_t skip_ws(size_t pos) const {
    while (pos < src_.size() && is_ws(src_[pos]))
      ++pos;
    return pos;
  }

  // Returns the position after the comment, honouring -#}, +#} and trim_blocks.
  size_t lex_comment(size_t tag, size_t pos) {
    for (size_t i = src_.find("#}", pos); i != npos; i = src_.find("#}", i + 1)) {
      if (i > pos && src_[i - 1] == '-')
        return skip_ws(i + 2);
      if (i > pos && src_[i - 1] == '+')
        return i + 2;
      size_t end = i + 2;
      if (options_.trim_blocks && end < src_.size() && src_[end] == '\n')
        ++end;
      return end;
    }
    error(tag, "unexpected end of template: comment opened here is never closed with '#}'");
  }

  // Lexes the inside of {{ }} or {% %}; returns the position after the closing delimiter.
  size_t lex_tag(size_t tag, size_t pos, bool block) {
    emit(block ? token_kind::block_begin : token_kind::var_begin, {}, tag);
    int depth = 0;
    std::string_view close = block ? "%}" : "}}";
    while (true) {
      pos = skip_ws(pos);
      if (pos >= src_.size())
        error(tag, fmt::format("unexpected end of template: tag opened here is never closed "
                               "with '{}'",
                               close));
      if (depth == 0) {
        auto end_kind = block ? token_kind::block_end : token_kind::var_end;
        if (src_[pos] == '-' && starts_with(pos + 1, close)) {
          emit(end_kind, {}, pos);
          return skip_ws(pos + 3);
        }
        if (block && src_[pos] == '+' && starts_with(pos + 1, close)) {
          emit(end_kind, {}, pos);
          return pos + 3;
        }
        if (starts_with(pos, close)) {
          emit(end_kind, {}, pos);
          pos += 2;
          if (block && options_.trim_blocks && pos < src_.size() && src_[pos] == '\n')
            ++pos;
          return pos;
        }
      }
      pos = lex_token(pos, depth);
    }
  }

  size_t lex_token(size_t pos, int& depth) {
    char c = src_[pos];
    if (is_name_start(c)) {
      size_t end = pos;
      while (end < src_.size() && is_name_char(src_[end]))
        ++end;
      emit(token_kind::name, src_.substr(pos, end - pos), pos);
      return end;
    }
    if (is_digit(c))
      return lex_number(pos);
    if (c == '\'' || c == '"')
      return lex_string(pos);
    for (auto op : two_char_ops)
      if (starts_with(pos, op)) {
        emit(token_kind::op, std::string{op}, pos);
        return pos + 2;
      }
    if (one_char_ops.find(c) != std::string_view::npos) {
      if (c == '(' || c == '[' || c == '{')
        ++depth;
      else if (c == ')' || c == ']' || c == '}') {
        if (depth == 0)
          error(pos, fmt::format("unexpected '{}'", c));
        --depth;
      }
      emit(token_kind::op, std::string(1, c), pos);
      return pos + 1;
    }
    error(pos, fmt::format("unexpected character '{}'", c));
  }

  size_t scan_digits(size_t pos, std::string& digits) const {
    while (pos < src_.size() && (is_digit(src_[pos]) || src_[pos] == '_')) {
      if (src_[pos] != '_')
        digits += src_[pos];
      ++pos;
    }
    return pos;
  }

  size_t lex_number(size_t start) {
    std::string digits;
    size_t pos = scan_digits(start, digits);
    bool after_dot = !tokens_.empty() && tokens_.back().kind == token_kind::op
                     && tokens_.back().text == ".";
    bool is_float = false;
    if (!after_dot && pos + 1 < src_.size() && src_[pos] == '.' && is_digit(src_[pos + 1])) {
      digits += '.';
      pos = scan_digits(pos + 1, digits);
      is_float = true;
    }
    if (!after_dot && pos < src_.size() && (src_[pos] == 'e' || src_[pos] == 'E')) {
      size_t p = pos + 1;
      std::string exp = "e";
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-'))
        exp += src_[p++];
      if (p < src_.size() && is_digit(src_[p])) {
        pos = scan_digits(p, exp);
        digits += exp;
        is_float = true;
      }
    }
    token t{is_float ? token_kind::floating : token_kind::integer, digits, 0, 0, pos_at(start)};
    if (is_float) {
      auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.floating);
      if (res.ec != std::errc{})
        error(start, fmt::format("invalid float literal '{}'", digits));
    } else {
      auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.integer);
      if (res.ec != std::errc{})
        error(start, fmt::format("integer literal '{}' is out of range", digits));
    }
    tokens_.push_back(std::move(t));
    return pos;
  }

  // Reads `n` hex digits at `pos` into a code point.
  char32_t read_hex(size_t pos, size_t n, size_t escape_at) const {
    char32_t cp = 0;
    for (size_t k = 0; k < n; ++k) {
      int h = pos + k < src_.size() ? hex_value(src_[pos + k]) : -1;
      if (h < 0)
        error(escape_at, fmt::format("truncated \\{} escape in string literal",
                                     n == 2 ? 'x' : (n == 4 ? 'u' : 'U')));
      cp = (cp << 4) | static_cast<char32_t>(h);
    }
    return cp;
  }

  size_t lex_string(size_t start) {
    char quote = src_[start];
    std::string out;
    size_t pos = start + 1;
    while (true) {
      if (pos >= src_.size())
        error(start, "unterminated string literal");
      char c = src_[pos];
      if (c == quote)
        break;
      if (c != '\\') {
        out += c;
        ++pos;
        continue;
      }
      if (pos + 1 >= src_.size())
        error(start, "unterminated string literal");
      size_t esc = pos;
      char e = src_[pos + 1];
      pos += 2;
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': append_utf8(out, read_hex(pos, 2, esc)); pos += 2; break;
        case 'u':
        case 'U': {
          size_t n = e == 'u' ? 4 : 8;
          char32_t cp = read_hex(pos, n, esc);
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            error(esc, "unsupported code point in \\u/\\U escape (surrogate or out of range)");
          append_utf8(out, cp);
          pos += n;
          break;
        }
        case 'N': error(esc, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && pos < src_.size() && src_[pos] >= '0' && src_[pos] <= '7';
                 ++k)
              cp = cp * 8 + static_cast<char32_t>(src_[pos++] - '0');
            append_utf8(out, cp);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    tokens_.push_back(token{token_kind::string, std::move(out), 0, 0, pos_at(start)});
    return pos + 1;
  }

  std::string src_;
  lexer_options options_;
  std::vector<size_t> line_starts_;
  std::vector<token> tokens_;
};

} // namespace

std::string describe_token(const token& t) {
  switch (t.kind) {
    case token_kind::text: return "template text";
    case token_kind::var_begin: return "'{{'";
    case token_kind::var_end: return "end of print statement '}}'";
    case token_kind::block_begin: return "'{%'";
    case token_kind::block_end: return "end of statement block '%}'";
    case token_kind::name: return fmt::format("name '{}'", t.text);
    case token_kind::string: return "string literal";
    case token_kind::integer:
    case token_kind::floating: return fmt::format("number {}", t.text);
    case token_kind::op: return fmt::format("'{}'", t.text);
    case token_kind::eof: return "end of template";
  }
  return "token";
}

std::vector<token> tokenize(std::string_view source, const lexer_options& options) {
  return lexer{source, options}.run();
}

} // namespace dynamo::jinja
