#include "dynamo/jinja/parser.hpp"

#include "dynamo/jinja/parser_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <utility>

namespace dynamo::jinja {

namespace {

constexpr std::array<std::string_view, 12> unsupported_tags = {
  "include", "import", "from", "extends", "block", "raw", "autoescape", "do", "trans",
  "pluralize", "endraw", "print"};

} // namespace

template_ast template_parser::run() {
  template_ast ast;
  ast.root = parse_body({}, nullptr, {});
  return ast;
}

body template_parser::parse_body(std::initializer_list<std::string_view> end_tags,
                                 const token* opener, std::string_view opener_name) {
  nesting guard{*this};
  body out;
  while (true) {
    const auto& t = cur();
    switch (t.kind) {
      case token_kind::text:
        out.push_back(std::make_unique<text_stmt>(t.pos, t.text));
        advance();
        break;
      case token_kind::var_begin: {
        advance();
        auto node = std::make_unique<output_stmt>(stmt_kind::output, t.pos);
        node->expression = parse_tuple(true, {}, false);
        expect_kind(token_kind::var_end, "end of print statement '}}'");
        out.push_back(std::move(node));
        break;
      }
      case token_kind::block_begin: {
        const auto& name = peek();
        if (name.kind != token_kind::name)
          error(name, fmt::format("expected a tag name, got {}", describe_token(name)));
        if (std::find(end_tags.begin(), end_tags.end(), name.text) != end_tags.end()) {
          advance();
          advance();
          return out;
        }
        advance();
        out.push_back(parse_statement());
        break;
      }
      case token_kind::eof: {
        if (end_tags.size() == 0)
          return out;
        std::string wanted;
        for (auto tag : end_tags)
          wanted += fmt::format("{}'{}'", wanted.empty() ? "" : " or ", tag);
        error(t, fmt::format("unexpected end of template: expected {} to close '{}' opened at "
                             "line {}",
                             wanted, opener_name, opener ? opener->pos.line : 0));
      }
      default:
        error(t, fmt::format("unexpected {}", describe_token(t)));
    }
  }
}

stmt_ptr template_parser::parse_statement() {
  const auto& tag = cur();
  std::string name = tag.text;
  if (name == "if")
    return parse_if();
  if (name == "for")
    return parse_for();
  if (name == "set")
    return parse_set();
  if (name == "macro")
    return parse_macro();
  if (name == "call")
    return parse_call_block();
  if (name == "filter")
    return parse_filter_block();
  if (name == "with")
    return parse_with();
  if (name == "generation")
    return parse_scope("endgeneration");
  if (name == "break" || name == "continue") {
    if (loop_depth_ == 0)
      error(tag, fmt::format("'{}' outside of a loop", name));
    advance();
    expect_block_end();
    return std::make_unique<stmt>(name == "break" ? stmt_kind::break_ : stmt_kind::continue_,
                                  tag.pos);
  }
  if (std::find(unsupported_tags.begin(), unsupported_tags.end(), name)
      != unsupported_tags.end())
    error(tag, fmt::format("unsupported tag '{}'", name));
  if (name.starts_with("end") || name == "else" || name == "elif")
    error(tag, fmt::format("unexpected tag '{}'", name));
  error(tag, fmt::format("unknown tag '{}'", name));
}

stmt_ptr template_parser::parse_if() {
  const auto& opener = advance();
  auto node = std::make_unique<if_stmt>(stmt_kind::if_, opener.pos);
  auto cond = parse_tuple(false, {}, false);
  expect_block_end();
  while (true) {
    auto branch = parse_body({"elif", "else", "endif"}, &opener, "if");
    node->branches.emplace_back(std::move(cond), std::move(branch));
    const auto& tag = toks_[i_ - 1];
    if (tag.text == "elif") {
      cond = parse_tuple(false, {}, false);
      expect_block_end();
      continue;
    }
    if (tag.text == "else") {
      expect_block_end();
      node->otherwise = parse_body({"endif"}, &opener, "if");
    }
    expect_block_end();
    return node;
  }
}

stmt_ptr template_parser::parse_for() {
  const auto& opener = advance();
  auto node = std::make_unique<for_stmt>(stmt_kind::for_, opener.pos);
  node->targets = parse_target_names("in");
  if (!skip_name("in"))
    expected("'in'");
  node->iterable = parse_tuple(false, "recursive", false);
  if (skip_name("if"))
    node->filter = parse_expression(true);
  if (at_name("recursive"))
    error(cur(), "recursive for loops are not supported");
  expect_block_end();
  ++loop_depth_;
  node->loop_body = parse_body({"endfor", "else"}, &opener, "for");
  --loop_depth_;
  if (toks_[i_ - 1].text == "else") {
    expect_block_end();
    node->otherwise = parse_body({"endfor"}, &opener, "for");
  }
  expect_block_end();
  return node;
}

std::vector<std::string> template_parser::parse_target_names(std::string_view end_name) {
  std::vector<std::string> names;
  bool parens = skip_op("(");
  while (true) {
    names.push_back(expect_name());
    if (!skip_op(","))
      break;
    if (at_name(end_name) || at_op(")") || at_op("="))
      break;
  }
  if (parens)
    expect_op(")");
  for (const auto& n : names)
    if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False"
        || n == "None")
      error(cur(), fmt::format("cannot assign to '{}'", n));
  return names;
}

assign_target template_parser::parse_assign_target() {
  assign_target target;
  if (cur().kind == token_kind::name && peek().kind == token_kind::op && peek().text == ".") {
    target.names.push_back(advance().text);
    advance();
    target.attribute = expect_name();
    return target;
  }
  target.names = parse_target_names("");
  return target;
}

stmt_ptr template_parser::parse_set() {
  const auto& opener = advance();
  auto target = parse_assign_target();
  if (skip_op("=")) {
    auto node = std::make_unique<set_stmt>(stmt_kind::set, opener.pos);
    node->target = std::move(target);
    node->val = parse_tuple(true, {}, false);
    expect_block_end();
    return node;
  }
  auto node = std::make_unique<set_block_stmt>(stmt_kind::set_block, opener.pos);
  node->target = std::move(target);
  node->filters = parse_filter_chain(false);
  expect_block_end();
  node->content = parse_body({"endset"}, &opener, "set");
  expect_block_end();
  return node;
}

std::vector<macro_param> template_parser::parse_params() {
  std::vector<macro_param> params;
  expect_op("(");
  while (!at_op(")")) {
    if (!params.empty()) {
      expect_op(",");
      if (at_op(")"))
        break;
    }
    macro_param p;
    p.name = expect_name();
    if (skip_op("="))
      p.fallback = parse_expression(true);
    else if (!params.empty() && params.back().fallback)
      error(cur(), fmt::format("non-default argument '{}' follows default argument", p.name));
    params.push_back(std::move(p));
  }
  expect_op(")");
  return params;
}

stmt_ptr template_parser::parse_macro() {
  const auto& opener = advance();
  auto node = std::make_unique<macro_stmt>(stmt_kind::macro, opener.pos);
  node->def = std::make_shared<macro_def>();
  node->def->pos = opener.pos;
  node->def->name = expect_name();
  node->def->params = parse_params();
  expect_block_end();
  auto saved_loops = std::exchange(loop_depth_, 0);
  node->def->content = parse_body({"endmacro"}, &opener, "macro");
  loop_depth_ = saved_loops;
  if (cur().kind == token_kind::name)
    advance();
  expect_block_end();
  return node;
}

stmt_ptr template_parser::parse_call_block() {
  const auto& opener = advance();
  auto node = std::make_unique<call_block_stmt>(stmt_kind::call_block, opener.pos);
  node->caller = std::make_shared<macro_def>();
  node->caller->name = "caller";
  node->caller->pos = opener.pos;
  if (at_op("("))
    node->caller->params = parse_params();
  node->call = parse_expression(true);
  if (node->call->kind != expr_kind::call)
    error(opener, "expected a call after 'call'");
  expect_block_end();
  auto saved_loops = std::exchange(loop_depth_, 0);
  node->caller->content = parse_body({"endcall"}, &opener, "call");
  loop_depth_ = saved_loops;
  expect_block_end();
  return node;
}

stmt_ptr template_parser::parse_filter_block() {
  const auto& opener = advance();
  auto node = std::make_unique<filter_block_stmt>(stmt_kind::filter_block, opener.pos);
  node->filters = parse_filter_chain(true);
  expect_block_end();
  node->content = parse_body({"endfilter"}, &opener, "filter");
  expect_block_end();
  return node;
}

stmt_ptr template_parser::parse_with() {
  const auto& opener = advance();
  auto node = std::make_unique<with_stmt>(stmt_kind::with, opener.pos);
  while (cur().kind != token_kind::block_end) {
    if (!node->assignments.empty())
      expect_op(",");
    auto name = expect_name();
    expect_op("=");
    node->assignments.emplace_back(std::move(name), parse_expression(true));
  }
  expect_block_end();
  node->content = parse_body({"endwith"}, &opener, "with");
  expect_block_end();
  return node;
}

stmt_ptr template_parser::parse_scope(std::string_view end_tag) {
  const auto& opener = advance();
  auto node = std::make_unique<scope_stmt>(stmt_kind::scope, opener.pos);
  expect_block_end();
  node->content = parse_body({end_tag}, &opener, opener.text);
  expect_block_end();
  return node;
}

template_ast parse_template(std::string_view source, const lexer_options& options) {
  return template_parser{tokenize(source, options)}.run();
}

} // namespace dynamo::jinja
