// Runtime values of the template engine: JSON data (shared, never copied on access), Jinja's
// Undefined, and objects (namespace(), loop, macros, builtin functions, bound methods).
#pragma once

#include "dynamo/jinja/text.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dynamo::jinja {

class renderer;
class object;

/// A runtime value. Cheap to copy: data is held through a shared pointer (aliasing into the
/// document it came from), objects through shared ownership. Not thread-safe to mutate objects.
class value {
public:
  /// Undefined without a hint.
  value() = default;

  /// Owns `data`.
  explicit value(json data);

  /// An object value.
  explicit value(std::shared_ptr<object> obj);

  /// Undefined; `hint` is the message used when the value is misused ("'x' is undefined").
  static value undefined(std::string hint);

  /// A value viewing `at`, which lives inside `*root`; shares ownership of `root`.
  static value alias(std::shared_ptr<const json> root, const json& at);

  /// True for Jinja's Undefined.
  bool is_undefined() const noexcept { return v_.index() == 0; }

  /// True for JSON data.
  bool is_data() const noexcept { return v_.index() == 1; }

  /// True for an object (namespace, loop, callable).
  bool is_object() const noexcept { return v_.index() == 2; }

  /// The data; precondition is_data() (on_internal_error otherwise).
  const json& data() const;

  /// The object; precondition is_object() (on_internal_error otherwise).
  const std::shared_ptr<object>& obj() const;

  /// The misuse message of an undefined value ("'x' is undefined" when none was given).
  std::string undefined_hint() const;

  /// A value for `child`, which must live inside data(); shares the owning document.
  value child(const json& child) const;

  /// Type tests on data values; false for undefined and objects.
  bool is_none() const noexcept { return is_data() && data().is_null(); }
  bool is_bool() const noexcept { return is_data() && data().is_boolean(); }
  bool is_string() const noexcept { return is_data() && data().is_string(); }
  bool is_integer() const noexcept { return is_data() && data().is_number_integer(); }
  bool is_number() const noexcept { return is_data() && data().is_number(); }
  bool is_list() const noexcept { return is_data() && data().is_array(); }
  bool is_mapping() const noexcept { return is_data() && data().is_object(); }

  /// The string; precondition is_string().
  const std::string& str() const { return data().get_ref<const std::string&>(); }

private:
  struct undefined_t {
    std::string hint;
  };
  std::variant<undefined_t, std::shared_ptr<const json>, std::shared_ptr<object>> v_;
};

/// Arguments of a call, evaluated by the caller.
struct call_args {
  std::vector<value> positional;                       ///< In order.
  std::vector<std::pair<std::string, value>> keyword;  ///< name=value, in order.
};

/// A non-data value. Subclasses: namespace, loop, callables.
class object {
public:
  virtual ~object();

  /// Python-ish type name used in error messages.
  virtual std::string_view type_name() const = 0;

  /// Attribute `name`, or undefined (the default).
  virtual value get_attr(std::string_view name) const;

  /// Python's str() of the object.
  virtual std::string to_str() const;

  /// True for callables.
  virtual bool is_callable() const noexcept { return false; }

  /// Calls the object; the default throws "'<type>' object is not callable".
  virtual value call(renderer& r, call_args args) const;
};

/// namespace(): a mutable attribute bag, the only thing `set x.y = ...` may assign to.
class namespace_object final : public object {
public:
  std::string_view type_name() const override { return "Namespace"; }
  value get_attr(std::string_view name) const override;
  std::string to_str() const override;

  /// Sets or replaces attribute `name`.
  void set(std::string name, value v);

private:
  std::vector<std::pair<std::string, value>> attrs_;
};

/// Python truthiness (undefined is false). Any thread.
bool truthy(const value& v);

/// Python str() as Jinja renders it (undefined renders as ""). Any thread.
std::string to_str(const value& v);

/// Python repr(). Any thread.
std::string to_repr(const value& v);

/// Python type name ("str", "int", "dict", "list", "NoneType", "Undefined", ...).
std::string_view type_name(const value& v);

/// Python ==, with int/float/bool numeric equality and order-insensitive dicts.
bool equals(const value& a, const value& b);

/// Deep Python == on data.
bool data_equals(const json& a, const json& b);

/// Python ordering: <0, 0, >0. Throws a template_error for unorderable types.
int compare(const value& a, const value& b);

/// Converts to data for storage in a list/dict literal; undefined becomes null. Throws a
/// template_error for objects.
json to_data(const value& v);

/// The integer of an int or bool value, or nullopt.
std::optional<int64_t> as_int(const value& v);

/// The number of an int, float or bool value as double, or nullopt.
std::optional<double> as_double(const value& v);

} // namespace dynamo::jinja
