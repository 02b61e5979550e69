// The expression half of the parser: Jinja2's operator precedence from conditional expressions
// down to literals, postfix access, calls, filters and tests.
#include "dynamo/jinja/parser_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace dynamo::jinja {

namespace {

constexpr std::array<std::string_view, 6> compare_ops = {"==", "!=", "<", ">", "<=", ">="};

expr_ptr make_binary(source_pos pos, std::string op, expr_ptr left, expr_ptr right) {
  auto node = std::make_unique<binary_expr>(expr_kind::binary, pos);
  node->op = std::move(op);
  node->left = std::move(left);
  node->right = std::move(right);
  return node;
}

} // namespace

bool template_parser::at_tuple_end(std::string_view extra_end_name) const {
  auto k = cur().kind;
  return k == token_kind::var_end || k == token_kind::block_end || k == token_kind::eof
         || at_op(")") || (!extra_end_name.empty() && at_name(extra_end_name));
}

expr_ptr template_parser::parse_tuple(bool with_condexpr, std::string_view extra_end_name,
                                      bool explicit_parentheses) {
  auto start = cur().pos;
  std::vector<expr_ptr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty())
      expect_op(",");
    if (at_tuple_end(extra_end_name))
      break;
    items.push_back(parse_expression(with_condexpr));
    if (at_op(","))
      is_tuple = true;
    else
      break;
  }
  if (!is_tuple) {
    if (!items.empty())
      return std::move(items.front());
    if (!explicit_parentheses)
      expected("an expression");
  }
  auto node = std::make_unique<sequence_expr>(expr_kind::tuple, start);
  node->items = std::move(items);
  return node;
}

expr_ptr template_parser::parse_expression(bool with_condexpr) {
  nesting guard{*this};
  if (!with_condexpr)
    return parse_or();
  auto start = cur().pos;
  auto node = parse_or();
  while (skip_name("if")) {
    auto cond = std::make_unique<condition_expr>(expr_kind::condition, start);
    cond->cond = parse_or();
    if (skip_name("else"))
      cond->otherwise = parse_expression(true);
    cond->then = std::move(node);
    node = std::move(cond);
  }
  return node;
}

expr_ptr template_parser::parse_or() {
  auto pos = cur().pos;
  auto left = parse_and();
  while (skip_name("or"))
    left = make_binary(pos, "or", std::move(left), parse_and());
  return left;
}

expr_ptr template_parser::parse_and() {
  auto pos = cur().pos;
  auto left = parse_not();
  while (skip_name("and"))
    left = make_binary(pos, "and", std::move(left), parse_not());
  return left;
}

expr_ptr template_parser::parse_not() {
  if (at_name("not")) {
    nesting guard{*this};
    auto node = std::make_unique<unary_expr>(expr_kind::unary, advance().pos);
    node->op = "not";
    node->operand = parse_not();
    return node;
  }
  return parse_compare();
}

expr_ptr template_parser::parse_compare() {
  auto pos = cur().pos;
  auto first = parse_math1();
  std::vector<std::pair<std::string, expr_ptr>> rest;
  while (true) {
    if (cur().kind == token_kind::op
        && std::find(compare_ops.begin(), compare_ops.end(), cur().text) != compare_ops.end()) {
      auto op = advance().text;
      rest.emplace_back(std::move(op), parse_math1());
    } else if (skip_name("in")) {
      rest.emplace_back("in", parse_math1());
    } else if (at_name("not") && peek().kind == token_kind::name && peek().text == "in") {
      advance();
      advance();
      rest.emplace_back("not in", parse_math1());
    } else {
      break;
    }
  }
  if (rest.empty())
    return first;
  auto node = std::make_unique<compare_expr>(expr_kind::compare, pos);
  node->first = std::move(first);
  node->rest = std::move(rest);
  return node;
}

expr_ptr template_parser::parse_math1() {
  auto pos = cur().pos;
  auto left = parse_concat();
  while (at_op("+") || at_op("-")) {
    auto op = advance().text;
    left = make_binary(pos, op, std::move(left), parse_concat());
  }
  return left;
}

expr_ptr template_parser::parse_concat() {
  auto pos = cur().pos;
  auto left = parse_math2();
  while (skip_op("~"))
    left = make_binary(pos, "~", std::move(left), parse_math2());
  return left;
}

expr_ptr template_parser::parse_math2() {
  auto pos = cur().pos;
  auto left = parse_pow();
  while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
    auto op = advance().text;
    left = make_binary(pos, op, std::move(left), parse_pow());
  }
  return left;
}

expr_ptr template_parser::parse_pow() {
  auto pos = cur().pos;
  auto left = parse_unary(true);
  while (skip_op("**"))
    left = make_binary(pos, "**", std::move(left), parse_unary(true));
  return left;
}

expr_ptr template_parser::parse_unary(bool with_filter) {
  nesting guard{*this};
  expr_ptr node;
  if (at_op("-") || at_op("+")) {
    auto u = std::make_unique<unary_expr>(expr_kind::unary, cur().pos);
    u->op = advance().text;
    u->operand = parse_unary(false);
    node = std::move(u);
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter)
    node = parse_filter_expr(std::move(node));
  return node;
}

expr_ptr template_parser::parse_primary() {
  const auto& t = cur();
  switch (t.kind) {
    case token_kind::name: {
      advance();
      if (t.text == "true" || t.text == "True")
        return std::make_unique<literal_expr>(t.pos, json(true));
      if (t.text == "false" || t.text == "False")
        return std::make_unique<literal_expr>(t.pos, json(false));
      if (t.text == "none" || t.text == "None")
        return std::make_unique<literal_expr>(t.pos, json(nullptr));
      return std::make_unique<name_expr>(t.pos, t.text);
    }
    case token_kind::string: {
      std::string s;
      while (cur().kind == token_kind::string)
        s += advance().text;
      return std::make_unique<literal_expr>(t.pos, json(std::move(s)));
    }
    case token_kind::integer:
      advance();
      return std::make_unique<literal_expr>(t.pos, json(t.integer));
    case token_kind::floating:
      advance();
      return std::make_unique<literal_expr>(t.pos, json(t.floating));
    case token_kind::op:
      if (t.text == "(") {
        advance();
        auto node = parse_tuple(true, {}, true);
        expect_op(")");
        return node;
      }
      if (t.text == "[")
        return parse_list();
      if (t.text == "{")
        return parse_dict();
      break;
    default: break;
  }
  error(t, fmt::format("unexpected {}", describe_token(t)));
}

expr_ptr template_parser::parse_list() {
  auto node = std::make_unique<sequence_expr>(expr_kind::list, advance().pos);
  while (!at_op("]")) {
    if (!node->items.empty()) {
      expect_op(",");
      if (at_op("]"))
        break;
    }
    node->items.push_back(parse_expression(true));
  }
  expect_op("]");
  return node;
}

expr_ptr template_parser::parse_dict() {
  auto node = std::make_unique<dict_expr>(expr_kind::dict, advance().pos);
  while (!at_op("}")) {
    if (!node->items.empty()) {
      expect_op(",");
      if (at_op("}"))
        break;
    }
    auto key = parse_expression(true);
    expect_op(":");
    node->items.emplace_back(std::move(key), parse_expression(true));
  }
  expect_op("}");
  return node;
}

expr_ptr template_parser::parse_postfix(expr_ptr node) {
  while (true) {
    if (at_op(".") || at_op("["))
      node = parse_subscript(std::move(node));
    else if (at_op("("))
      node = parse_call(std::move(node));
    else
      return node;
  }
}

expr_ptr template_parser::parse_filter_expr(expr_ptr node) {
  while (true) {
    if (at_op("|")) {
      auto chain = parse_filter_chain(false);
      for (auto& f : chain) {
        auto n = std::make_unique<filter_expr>(expr_kind::filter, f.pos);
        n->operand = std::move(node);
        n->name = std::move(f.name);
        n->args = std::move(f.args);
        node = std::move(n);
      }
    } else if (at_name("is")) {
      node = parse_test(std::move(node));
    } else if (at_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

expr_ptr template_parser::parse_test(expr_ptr node) {
  auto pos = advance().pos;
  auto n = std::make_unique<filter_expr>(expr_kind::test, pos);
  n->negated = skip_name("not");
  n->name = expect_name();
  const auto& t = cur();
  bool arg_start = t.kind == token_kind::name || t.kind == token_kind::string
                   || t.kind == token_kind::integer || t.kind == token_kind::floating
                   || at_op("[") || at_op("{");
  if (at_op("(")) {
    n->args = parse_call_args();
  } else if (arg_start && !at_name("else") && !at_name("or") && !at_name("and")) {
    if (at_name("is"))
      error(t, "cannot chain multiple tests with 'is'");
    n->args.positional.push_back(parse_postfix(parse_primary()));
  }
  n->operand = std::move(node);
  return n;
}

expr_ptr template_parser::parse_subscript(expr_ptr node) {
  const auto& t = advance();
  if (t.text == ".") {
    const auto& attr = cur();
    if (attr.kind == token_kind::name) {
      advance();
      auto n = std::make_unique<getattr_expr>(expr_kind::getattr, node->pos);
      n->object = std::move(node);
      n->name = attr.text;
      return n;
    }
    if (attr.kind == token_kind::integer) {
      advance();
      auto n = std::make_unique<getitem_expr>(expr_kind::getitem, node->pos);
      n->object = std::move(node);
      n->key = std::make_unique<literal_expr>(attr.pos, json(attr.integer));
      return n;
    }
    expected("an attribute name after '.'");
  }
  // '['
  expr_ptr parts[3];
  int colons = 0;
  while (!at_op("]")) {
    if (at_op(":")) {
      if (++colons > 2)
        expected("']'");
      advance();
      continue;
    }
    if (parts[colons])
      expected(colons == 0 ? "']' or ':'" : "']'");
    parts[colons] = parse_expression(true);
    if (at_op(","))
      error(cur(), "tuple subscripts are not supported");
  }
  expect_op("]");
  if (colons == 0) {
    if (!parts[0])
      error(t, "expected a subscript");
    auto n = std::make_unique<getitem_expr>(expr_kind::getitem, node->pos);
    n->object = std::move(node);
    n->key = std::move(parts[0]);
    return n;
  }
  auto n = std::make_unique<slice_expr>(expr_kind::slice, node->pos);
  n->object = std::move(node);
  n->start = std::move(parts[0]);
  n->stop = std::move(parts[1]);
  n->step = std::move(parts[2]);
  return n;
}

expr_ptr template_parser::parse_call(expr_ptr node) {
  auto n = std::make_unique<call_expr>(expr_kind::call, node->pos);
  n->args = parse_call_args();
  n->callee = std::move(node);
  return n;
}

arg_list template_parser::parse_call_args() {
  arg_list args;
  expect_op("(");
  bool need_comma = false;
  while (!at_op(")")) {
    if (need_comma) {
      expect_op(",");
      if (at_op(")"))
        break;
    }
    if (at_op("*") || at_op("**"))
      error(cur(), "*args and **kwargs in calls are not supported");
    if (cur().kind == token_kind::name && peek().kind == token_kind::op && peek().text == "=") {
      auto name = advance().text;
      advance();
      args.keyword.emplace_back(std::move(name), parse_expression(true));
    } else {
      if (!args.keyword.empty())
        error(cur(), "positional argument follows keyword argument");
      args.positional.push_back(parse_expression(true));
    }
    need_comma = true;
  }
  expect_op(")");
  return args;
}

std::vector<filter_call> template_parser::parse_filter_chain(bool start_inline) {
  std::vector<filter_call> out;
  while (start_inline || skip_op("|")) {
    start_inline = false;
    filter_call f;
    f.pos = cur().pos;
    f.name = expect_name();
    if (at_op("("))
      f.args = parse_call_args();
    out.push_back(std::move(f));
  }
  return out;
}

} // namespace dynamo::jinja
