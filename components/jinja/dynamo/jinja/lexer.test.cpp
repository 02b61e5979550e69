#include "dynamo/jinja/lexer.hpp"

#include <gtest/gtest.h>

namespace dynamo::jinja {
namespace {

std::string texts(std::string_view source, lexer_options options = {}) {
  std::string out;
  for (const auto& t : tokenize(source, options))
    if (t.kind == token_kind::text)
      out += "[" + t.text + "]";
  return out;
}

TEST(jinja_lexer, splits_text_tags_and_expression_tokens) {
  auto tokens = tokenize("a{{ x.y + 1.5 }}b{% if 'q' %}", {});
  std::vector<token_kind> kinds;
  for (const auto& t : tokens)
    kinds.push_back(t.kind);
  EXPECT_EQ(kinds, (std::vector<token_kind>{
                     token_kind::text, token_kind::var_begin, token_kind::name, token_kind::op,
                     token_kind::name, token_kind::op, token_kind::floating, token_kind::var_end,
                     token_kind::text, token_kind::block_begin, token_kind::name,
                     token_kind::string, token_kind::block_end, token_kind::eof}));
}

TEST(jinja_lexer, minus_markers_strip_whitespace_on_their_side) {
  EXPECT_EQ(texts("a \n {{- 1 -}} \n b"), "[a][b]");
  EXPECT_EQ(texts("a \n {%- if 1 -%} \n b"), "[a][b]");
  EXPECT_EQ(texts("a \n {#- c -#} \n b"), "[a][b]");
}

TEST(jinja_lexer, trim_and_lstrip_blocks_apply_to_block_and_comment_tags_only) {
  lexer_options hf{true, true};
  EXPECT_EQ(texts("  {% if 1 %}\nx\n  {% endif %}\n", hf), "[x\n]");
  EXPECT_EQ(texts("  {{ 1 }}\n", hf), "[  ]");
  EXPECT_EQ(texts("a  {% if 1 %}b", hf), "[a  ][b]");
  EXPECT_EQ(texts("  {%+ if 1 %}\nb", hf), "[  ][b]");
  EXPECT_EQ(texts("{% if 1 +%}\nb", hf), "[\nb]");
  EXPECT_EQ(texts("  {% if 1 %}\nx", {}), "[  ][\nx]");
}

TEST(jinja_lexer, normalizes_newlines_and_drops_one_trailing_newline) {
  EXPECT_EQ(texts("a\r\nb\rc\n\n"), "[a\nb\nc\n]");
}

TEST(jinja_lexer, decodes_python_string_escapes) {
  auto tokens = tokenize(R"({{ 'a\n\t\\\'\x41\u00e9\d' "\"" }})", {});
  EXPECT_EQ(tokens[1].text, "a\n\t\\'Aé\\d");
  EXPECT_EQ(tokens[2].text, "\"");
}

TEST(jinja_lexer, brackets_keep_end_delimiters_inside_expressions) {
  auto tokens = tokenize("{{ {'a': {'b': 1}} }}", {});
  EXPECT_EQ(tokens[tokens.size() - 2].kind, token_kind::var_end);
}

TEST(jinja_lexer, errors_name_line_and_column) {
  try {
    tokenize("line1\n  {{ 'open", {});
    FAIL() << "expected a syntax error";
  } catch (const template_error& err) {
    EXPECT_EQ(err.kind(), failure::syntax);
    EXPECT_EQ(err.pos().line, 2u);
    EXPECT_EQ(err.pos().column, 6u);
    EXPECT_NE(err.message().find("unterminated string"), std::string::npos);
  }
  EXPECT_THROW(tokenize("{{ 1 ", {}), template_error);
  EXPECT_THROW(tokenize("{# never closed", {}), template_error);
  EXPECT_THROW(tokenize("{{ a $ b }}", {}), template_error);
  EXPECT_THROW(tokenize("{{ ) }}", {}), template_error);
}

} // namespace
} // namespace dynamo::jinja
