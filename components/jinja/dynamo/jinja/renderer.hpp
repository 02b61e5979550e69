// The renderer: walks a template_ast against a context, with Jinja2's scoping rules, and
// enforces the resource limits that keep hostile templates from exhausting the process.
#pragma once

#include "dynamo/jinja/ast.hpp"
#include "dynamo/jinja/value.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::jinja {

/// Limits and hooks for one render.
struct render_options {
  size_t max_output_bytes = size_t{1} << 20;  ///< Cap on the output and on any string built.
  size_t max_iterations = 1'000'000;          ///< Cap on loop iterations (all loops together).
  size_t max_call_depth = 32;                 ///< Cap on nested macro calls.
  /// Clock behind strftime_now(); null means the system clock (local time, as Python's).
  std::function<std::chrono::system_clock::time_point()> clock;
};

/// Renders one template once. Not thread-safe; make one per render (cheap).
class renderer {
public:
  /// A renderer writing to `out` under `options`; both must outlive it.
  renderer(const render_options& options, std::string& out);

  /// Renders `ast` with the variables of `context` (a JSON object). Throws template_error.
  void render(const template_ast& ast, std::shared_ptr<const json> context);

  /// The options of this render.
  const render_options& options() const noexcept { return options_; }

  /// Calls a callable value (macro, builtin, bound method). Throws template_error.
  value call(const value& callee, call_args args);

  /// Applies filter `name`. Throws template_error for unknown filters and bad arguments.
  value filter(std::string_view name, const value& input, call_args args);

  /// Applies test `name`. Throws template_error for unknown tests and bad arguments.
  bool test(std::string_view name, const value& input, call_args args);

  /// Counts one loop iteration against max_iterations; throws a limit error beyond it.
  void count_iteration();

  /// Throws a limit error if a string of `bytes` would exceed max_output_bytes.
  void check_size(size_t bytes) const;

  /// Invokes a macro body (used by macro objects).
  value invoke_macro(const std::shared_ptr<const macro_def>& def,
                     const std::vector<std::pair<std::string, value>>& closure, call_args args,
                     const value& caller);

private:
  enum class flow : uint8_t { normal, break_, continue_ };
  using frame = std::vector<std::pair<std::string, value>>;

  flow exec_body(const body& b);
  flow exec(const stmt& s);
  flow exec_for(const for_stmt& s);
  void exec_set(const assign_target& target, value v, source_pos pos);
  std::string capture(const body& b);
  value apply_filters(const std::vector<filter_call>& filters, value v);

  value eval(const expr& e);
  value eval_binary(const binary_expr& e);
  value eval_compare(const compare_expr& e);
  value eval_call(const call_expr& e);
  value eval_filter(const filter_expr& e);
  call_args eval_args(const arg_list& args);

  value lookup(const std::string& name) const;
  void assign(const std::string& name, value v);
  void emit(std::string_view text);
  frame closure() const;

  const render_options& options_;
  std::string* out_;
  std::shared_ptr<const json> context_;
  std::vector<frame> frames_;
  size_t floor_ = 0;  // frames below this (except frame 0) are invisible (macro bodies)
  size_t iterations_ = 0;
  size_t call_depth_ = 0;
  size_t eval_depth_ = 0;
};

} // namespace dynamo::jinja
