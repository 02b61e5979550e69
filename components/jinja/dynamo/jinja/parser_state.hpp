// Internal to the parser: the recursive-descent state (token cursor, nesting guards) shared by
// the statement parser (parser.cpp) and the expression parser (parse_expression.cpp). Nothing
// here is part of the module's API; callers use parse_template() from parser.hpp.
#pragma once

#include "dynamo/jinja/ast.hpp"
#include "dynamo/jinja/lexer.hpp"
#include "dynamo/jinja/parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::jinja {

/// Recursive-descent parser over the tokens of one template, following Jinja2's grammar. Single
/// use, one thread at a time; every failure throws template_error(failure::syntax).
class template_parser {
public:
  /// Takes the tokens of one template; `tokens` must end with an eof token (tokenize() does).
  explicit template_parser(std::vector<token> tokens) : toks_(std::move(tokens)) {
  }

  /// Parses the whole template. Throws template_error(failure::syntax).
  template_ast run();

private:
  // RAII nesting guard for expressions and blocks.
  class nesting {
  public:
    explicit nesting(template_parser& p) : p_(p) {
      if (++p_.depth_ > max_parse_depth)
        p_.error(p_.cur(), fmt::format("template nesting exceeds the limit of {} levels",
                                       max_parse_depth));
    }
    ~nesting() { --p_.depth_; }
    nesting(const nesting&) = delete;
    nesting& operator=(const nesting&) = delete;

  private:
    template_parser& p_;
  };

  const token& cur() const { return toks_[i_]; }

  const token& peek(size_t n = 1) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }

  const token& advance() {
    const auto& t = toks_[i_];
    if (i_ + 1 < toks_.size())
      ++i_;
    return t;
  }

  bool at_op(std::string_view op) const {
    return cur().kind == token_kind::op && cur().text == op;
  }

  bool at_name(std::string_view name) const {
    return cur().kind == token_kind::name && cur().text == name;
  }

  bool skip_op(std::string_view op) {
    if (!at_op(op))
      return false;
    advance();
    return true;
  }

  bool skip_name(std::string_view name) {
    if (!at_name(name))
      return false;
    advance();
    return true;
  }

  [[noreturn]] void error(const token& t, std::string message) const {
    throw template_error(failure::syntax, std::move(message), t.pos);
  }

  [[noreturn]] void expected(std::string_view what) const {
    error(cur(), fmt::format("expected {}, got {}", what, describe_token(cur())));
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op))
      expected(fmt::format("'{}'", op));
  }

  void expect_kind(token_kind kind, std::string_view what) {
    if (cur().kind != kind)
      expected(what);
    advance();
  }

  std::string expect_name() {
    if (cur().kind != token_kind::name)
      expected("a name");
    return advance().text;
  }

  void expect_block_end() {
    expect_kind(token_kind::block_end, "end of statement block '%}'");
  }

  // Statements (parser.cpp).

  // Parses statements until one of `end_tags`; leaves the cursor on that tag's name.
  body parse_body(std::initializer_list<std::string_view> end_tags, const token* opener,
                  std::string_view opener_name);
  stmt_ptr parse_statement();
  stmt_ptr parse_if();
  stmt_ptr parse_for();
  // Names separated by commas, optionally in parentheses ("a", "a, b", "(a, b)").
  std::vector<std::string> parse_target_names(std::string_view end_name);
  assign_target parse_assign_target();
  stmt_ptr parse_set();
  std::vector<macro_param> parse_params();
  stmt_ptr parse_macro();
  stmt_ptr parse_call_block();
  stmt_ptr parse_filter_block();
  stmt_ptr parse_with();
  stmt_ptr parse_scope(std::string_view end_tag);

  // Expressions (parse_expression.cpp).

  bool at_tuple_end(std::string_view extra_end_name) const;
  expr_ptr parse_tuple(bool with_condexpr, std::string_view extra_end_name,
                       bool explicit_parentheses);
  expr_ptr parse_expression(bool with_condexpr);
  expr_ptr parse_or();
  expr_ptr parse_and();
  expr_ptr parse_not();
  expr_ptr parse_compare();
  expr_ptr parse_math1();
  expr_ptr parse_concat();
  expr_ptr parse_math2();
  expr_ptr parse_pow();
  expr_ptr parse_unary(bool with_filter);
  expr_ptr parse_primary();
  expr_ptr parse_list();
  expr_ptr parse_dict();
  expr_ptr parse_postfix(expr_ptr node);
  expr_ptr parse_filter_expr(expr_ptr node);
  expr_ptr parse_test(expr_ptr node);
  expr_ptr parse_subscript(expr_ptr node);
  expr_ptr parse_call(expr_ptr node);
  arg_list parse_call_args();
  // `| name(args)` repeated; with `start_inline` the first filter has no leading '|'.
  std::vector<filter_call> parse_filter_chain(bool start_inline);

  std::vector<token> toks_;
  size_t i_ = 0;
  size_t depth_ = 0;
  size_t loop_depth_ = 0;
};

} // namespace dynamo::jinja
