// The lexer: template source -> tokens, with Jinja2's whitespace control (`-`/`+` markers,
// trim_blocks, lstrip_blocks), newline normalisation and the dropped final newline.
#pragma once

#include "dynamo/jinja/diagnostics.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::jinja {

/// Whitespace options, as in jinja2.Environment.
struct lexer_options {
  bool trim_blocks = false;    ///< Drop the first newline after a block or comment tag.
  bool lstrip_blocks = false;  ///< Strip spaces/tabs before a block or comment tag on its line.
};

/// Token kinds.
enum class token_kind : uint8_t {
  text,         ///< Literal template text; `text` holds it.
  var_begin,    ///< {{
  var_end,      ///< }}
  block_begin,  ///< {%
  block_end,    ///< %}
  name,         ///< Identifier; `text` holds it.
  string,       ///< String literal; `text` holds the decoded value.
  integer,      ///< Integer literal; `integer` holds it.
  floating,     ///< Float literal; `floating` holds it.
  op,           ///< Operator or punctuation; `text` holds it.
  eof,          ///< End of input.
};

/// One token.
struct token {
  token_kind kind = token_kind::eof;  ///< What it is.
  std::string text;                   ///< Text, name, decoded string or operator.
  int64_t integer = 0;                ///< Value of an integer literal.
  double floating = 0;                ///< Value of a float literal.
  source_pos pos;                     ///< Where it starts.
};

/// Human-readable description of a token for error messages ("name 'foo'", "end of tag").
std::string describe_token(const token& t);

/// Tokenizes `source`. Throws template_error(failure::syntax) naming line/column on malformed
/// input (unterminated tag, comment or string; unexpected character). Any thread.
std::vector<token> tokenize(std::string_view source, const lexer_options& options);

} // namespace dynamo::jinja
