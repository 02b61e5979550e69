// The syntax tree produced by the parser and walked by the renderer. Immutable after parsing,
// so one tree may be rendered by many threads at once.
#pragma once

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/value.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::jinja {

/// Expression node kinds.
enum class expr_kind : uint8_t {
  literal,    ///< A constant (string, number, bool, none).
  name,       ///< A variable reference.
  list,       ///< [a, b]
  tuple,      ///< (a, b) or a, b
  dict,       ///< {k: v}
  unary,      ///< not x, -x, +x
  binary,     ///< Arithmetic, ~, and/or.
  compare,    ///< a == b < c ... (chained), in / not in.
  condition,  ///< a if cond else b
  getattr,    ///< x.name
  getitem,    ///< x[key]
  slice,      ///< x[a:b:c]
  call,       ///< f(args)
  filter,     ///< x | f(args)
  test,       ///< x is [not] t(args)
};

/// Base of all expressions.
struct expr {
  /// A node of `k` at `p`.
  expr(expr_kind k, source_pos p) : kind(k), pos(p) {
  }
  virtual ~expr() = default;
  expr_kind kind;  ///< Which subclass this is.
  source_pos pos;  ///< Where it starts.
};

/// Owning pointer to an expression.
using expr_ptr = std::unique_ptr<expr>;

/// A constant.
struct literal_expr : expr {
  literal_expr(source_pos p, json v) : expr(expr_kind::literal, p), val(std::move(v)) {
  }
  value val;  ///< The constant (shared, never copied at render time).
};

/// A variable reference.
struct name_expr : expr {
  name_expr(source_pos p, std::string n) : expr(expr_kind::name, p), name(std::move(n)) {
  }
  std::string name;  ///< The variable.
};

/// A list or tuple display.
struct sequence_expr : expr {
  using expr::expr;
  std::vector<expr_ptr> items;  ///< Elements.
};

/// A dict display.
struct dict_expr : expr {
  using expr::expr;
  std::vector<std::pair<expr_ptr, expr_ptr>> items;  ///< Key/value pairs.
};

/// A unary operator: "not", "-", "+".
struct unary_expr : expr {
  using expr::expr;
  std::string op;    ///< The operator.
  expr_ptr operand;  ///< Its operand.
};

/// A binary operator: + - * / // % ** ~ and or.
struct binary_expr : expr {
  using expr::expr;
  std::string op;  ///< The operator.
  expr_ptr left;   ///< Left operand.
  expr_ptr right;  ///< Right operand.
};

/// A comparison chain: first (op operand)+, with ops == != < <= > >= in "not in".
struct compare_expr : expr {
  using expr::expr;
  expr_ptr first;                                      ///< Leftmost operand.
  std::vector<std::pair<std::string, expr_ptr>> rest;  ///< Operators and operands.
};

/// `then if cond else otherwise` (otherwise may be absent: undefined).
struct condition_expr : expr {
  using expr::expr;
  expr_ptr then;       ///< Value when cond holds.
  expr_ptr cond;       ///< The condition.
  expr_ptr otherwise;  ///< Value otherwise; null means undefined.
};

/// `object.name`.
struct getattr_expr : expr {
  using expr::expr;
  expr_ptr object;   ///< The object.
  std::string name;  ///< The attribute.
};

/// `object[key]`.
struct getitem_expr : expr {
  using expr::expr;
  expr_ptr object;  ///< The object.
  expr_ptr key;     ///< The subscript.
};

/// `object[start:stop:step]`; absent parts are null.
struct slice_expr : expr {
  using expr::expr;
  expr_ptr object;  ///< The sequence.
  expr_ptr start;   ///< Start or null.
  expr_ptr stop;    ///< Stop or null.
  expr_ptr step;    ///< Step or null.
};

/// Call arguments as written.
struct arg_list {
  std::vector<expr_ptr> positional;                       ///< Positional arguments.
  std::vector<std::pair<std::string, expr_ptr>> keyword;  ///< Keyword arguments.
};

/// `callee(args)`.
struct call_expr : expr {
  using expr::expr;
  expr_ptr callee;  ///< What is called.
  arg_list args;    ///< Arguments.
};

/// `operand | name(args)`, and `operand is [not] name(args)` for tests.
struct filter_expr : expr {
  using expr::expr;
  expr_ptr operand;     ///< The filtered/tested value.
  std::string name;     ///< Filter or test name.
  arg_list args;        ///< Extra arguments.
  bool negated = false; ///< `is not` (tests only).
};

/// Statement node kinds.
enum class stmt_kind : uint8_t {
  text, output, if_, for_, set, set_block, macro, call_block, filter_block, break_, continue_,
  with, scope,
};

/// Base of all statements.
struct stmt {
  /// A node of `k` at `p`.
  stmt(stmt_kind k, source_pos p) : kind(k), pos(p) {
  }
  virtual ~stmt() = default;
  stmt_kind kind;  ///< Which subclass this is.
  source_pos pos;  ///< Where it starts.
};

/// Owning pointer to a statement.
using stmt_ptr = std::unique_ptr<stmt>;

/// A sequence of statements.
using body = std::vector<stmt_ptr>;

/// Literal text.
struct text_stmt : stmt {
  text_stmt(source_pos p, std::string t) : stmt(stmt_kind::text, p), text(std::move(t)) {
  }
  std::string text;  ///< Output verbatim.
};

/// {{ expression }}.
struct output_stmt : stmt {
  using stmt::stmt;
  expr_ptr expression;  ///< What to print.
};

/// if / elif / else.
struct if_stmt : stmt {
  using stmt::stmt;
  std::vector<std::pair<expr_ptr, body>> branches;  ///< Conditions in order.
  body otherwise;                                   ///< The else branch.
};

/// for targets in iterable [if filter] ... [else] ...
struct for_stmt : stmt {
  using stmt::stmt;
  std::vector<std::string> targets;  ///< One name, or several to unpack.
  expr_ptr iterable;                 ///< What to iterate.
  expr_ptr filter;                   ///< Optional `if` clause.
  body loop_body;                    ///< The body.
  body otherwise;                    ///< Rendered when nothing was iterated.
};

/// An assignment target: names (unpacking when several) or `name.attr` on a namespace.
struct assign_target {
  std::vector<std::string> names;  ///< Variables; one unless unpacking.
  std::string attribute;           ///< Non-empty: assign names[0].attribute.
};

/// set target = value.
struct set_stmt : stmt {
  using stmt::stmt;
  assign_target target;  ///< Where to assign.
  expr_ptr val;          ///< The value.
};

/// A filter application in a filter chain (set blocks, filter blocks).
struct filter_call {
  std::string name;    ///< Filter name.
  arg_list args;       ///< Arguments.
  source_pos pos;      ///< Where it is written.
};

/// {% set target | filters %} body {% endset %}.
struct set_block_stmt : stmt {
  using stmt::stmt;
  assign_target target;             ///< Where to assign.
  std::vector<filter_call> filters; ///< Applied to the rendered body.
  body content;                     ///< The body.
};

/// A macro parameter.
struct macro_param {
  std::string name;  ///< Parameter name.
  expr_ptr fallback; ///< Default value expression, or null.
};

/// Shared definition of a macro body (kept alive by macro values after parsing).
struct macro_def {
  std::string name;                 ///< Macro name ("caller" for call blocks).
  std::vector<macro_param> params;  ///< Parameters.
  body content;                     ///< The body.
  source_pos pos;                   ///< Where it is defined.
};

/// {% macro name(params) %} body {% endmacro %}.
struct macro_stmt : stmt {
  using stmt::stmt;
  std::shared_ptr<macro_def> def;  ///< The macro.
};

/// {% call(params) callee(args) %} body {% endcall %}.
struct call_block_stmt : stmt {
  using stmt::stmt;
  std::shared_ptr<macro_def> caller;  ///< The body, callable as caller().
  expr_ptr call;                      ///< The call expression.
};

/// {% filter f | g %} body {% endfilter %}.
struct filter_block_stmt : stmt {
  using stmt::stmt;
  std::vector<filter_call> filters;  ///< Applied to the rendered body.
  body content;                      ///< The body.
};

/// {% with a = x, b = y %} body {% endwith %}.
struct with_stmt : stmt {
  using stmt::stmt;
  std::vector<std::pair<std::string, expr_ptr>> assignments;  ///< Scoped variables.
  body content;                                               ///< The body.
};

/// A transparent block such as {% generation %} ... {% endgeneration %}.
struct scope_stmt : stmt {
  using stmt::stmt;
  body content;  ///< The body, rendered as is.
};

/// The parsed template.
struct template_ast {
  body root;  ///< Top-level statements.
};

} // namespace dynamo::jinja
