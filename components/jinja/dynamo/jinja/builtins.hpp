// Builtins of the engine: attribute/item access, operators, str/dict methods, filters, tests
// and global functions. Each throws template_error on misuse; none crashes on bad input.
#pragma once

#include "dynamo/jinja/value.hpp"

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::jinja {

class renderer;

/// Binds call arguments to parameter names (positional first, then keywords); rejects extra
/// positional arguments and unknown keywords with a template_error naming `function`.
class arg_reader {
public:
  /// Binds `args` to `names` for `function`.
  arg_reader(std::string_view function, call_args args, std::initializer_list<std::string_view> names);

  /// Whether parameter `i` was given.
  bool has(size_t i) const { return i < bound_.size() && bound_[i].has_value(); }

  /// Parameter `i`, or `fallback` when absent.
  value get(size_t i, value fallback = value{}) const;

  /// Parameter `i` as a string (throws unless str), or `fallback`.
  std::string get_string(size_t i, std::string fallback) const;

  /// Parameter `i` as an optional string (None/absent -> nullopt).
  std::optional<std::string> get_optional_string(size_t i) const;

  /// Parameter `i` as an integer (throws unless int/bool), or `fallback`.
  int64_t get_int(size_t i, int64_t fallback) const;

  /// Parameter `i` by truthiness, or `fallback`.
  bool get_bool(size_t i, bool fallback) const;

private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<std::optional<value>> bound_;
};

/// Jinja's getattr: methods of str/dict/list first, then items; missing -> undefined.
/// Throws the undefined hint when `obj` itself is undefined.
value get_attribute(const value& obj, std::string_view name);

/// Jinja's getitem: items first, then attributes for string keys; missing -> undefined.
value get_item(const value& obj, const value& key);

/// Python slicing of a list or str. Throws for other types or a zero step.
value get_slice(const value& obj, const value& start, const value& stop, const value& step);

/// The elements of an iterable: list items, dict keys, str code points; undefined -> none.
/// Throws for non-iterables.
std::vector<value> iterate(const value& v);

/// Python's len(); throws for values without a length.
size_t length_of(const value& v);

/// A binary operator: + - * / // % ** ~. Throws on type errors and overflow.
value binary_operator(const renderer& r, std::string_view op, const value& left,
                      const value& right);

/// A unary operator: - +. Throws on type errors.
value unary_operator(std::string_view op, const value& operand);

/// `needle in haystack` as Python evaluates it. Throws for non-containers.
bool contains(const value& haystack, const value& needle);

/// Calls method `name` of a str, dict or list value.
value call_method(renderer& r, const value& self, std::string_view name, call_args args);

/// True if `self` (a str, dict or list) has a method called `name`.
bool has_method(const value& self, std::string_view name);

/// Applies builtin filter `name`.
value apply_filter(renderer& r, std::string_view name, const value& input, call_args args);

/// Applies builtin test `name`.
bool apply_test(renderer& r, std::string_view name, const value& input, call_args args);

/// A builtin global (range, namespace, dict, raise_exception, strftime_now) or undefined.
value builtin_global(std::string_view name);

/// Python's int()/float() conversions used by filters; nullopt when not convertible.
std::optional<int64_t> parse_int(std::string_view text);
std::optional<double> parse_float(std::string_view text);

} // namespace dynamo::jinja
