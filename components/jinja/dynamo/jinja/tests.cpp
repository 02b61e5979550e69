// Builtin tests (`x is defined`, `n is divisibleby 3`, ...) with Jinja2 3.1 semantics.
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/renderer.hpp"

#include <fmt/format.h>

#include <utility>

namespace dynamo::jinja {

namespace {

using test_fn = bool (*)(renderer&, const value&, call_args);

template <bool (*Pred)(const value&)>
bool unary(renderer&, const value& v, call_args args) {
  arg_reader a{"test", std::move(args), {}};
  return Pred(v);
}

bool is_defined(const value& v) {
  return !v.is_undefined();
}
bool is_undefined(const value& v) {
  return v.is_undefined();
}
bool is_none(const value& v) {
  return v.is_none();
}
bool is_boolean(const value& v) {
  return v.is_bool();
}
bool is_true(const value& v) {
  return v.is_bool() && v.data().get<bool>();
}
bool is_false(const value& v) {
  return v.is_bool() && !v.data().get<bool>();
}
bool is_integer(const value& v) {
  return v.is_integer();
}
bool is_float(const value& v) {
  return v.is_data() && v.data().is_number_float();
}
bool is_number(const value& v) {
  return v.is_number() || v.is_bool();
}
bool is_string(const value& v) {
  return v.is_string();
}
bool is_mapping(const value& v) {
  return v.is_mapping();
}
bool is_iterable(const value& v) {
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_mapping();
}
bool is_sequence(const value& v) {
  return v.is_string() || v.is_list() || v.is_mapping();
}
bool is_callable(const value& v) {
  return v.is_object() && v.obj()->is_callable();
}

int64_t int_operand(const value& v, std::string_view test) {
  if (auto i = as_int(v))
    return *i;
  if (v.is_undefined())
    fail(v.undefined_hint());
  fail(fmt::format("test '{}' needs an integer, got '{}'", test, type_name(v)));
}

bool t_even(renderer&, const value& v, call_args args) {
  arg_reader a{"even", std::move(args), {}};
  return int_operand(v, "even") % 2 == 0;
}

bool t_odd(renderer&, const value& v, call_args args) {
  arg_reader a{"odd", std::move(args), {}};
  return int_operand(v, "odd") % 2 != 0;
}

bool t_divisibleby(renderer&, const value& v, call_args args) {
  arg_reader a{"divisibleby", std::move(args), {"num"}};
  auto num = a.get_int(0, 0);
  if (num == 0)
    fail("divisibleby: division by zero");
  return int_operand(v, "divisibleby") % num == 0;
}

template <int Op>
bool t_compare(renderer&, const value& v, call_args args) {
  arg_reader a{"compare", std::move(args), {"other"}};
  auto other = a.get(0);
  switch (Op) {
    case 0: return equals(v, other);
    case 1: return !equals(v, other);
    case 2: return compare(v, other) < 0;
    case 3: return compare(v, other) <= 0;
    case 4: return compare(v, other) > 0;
    default: return compare(v, other) >= 0;
  }
}

bool t_in(renderer&, const value& v, call_args args) {
  arg_reader a{"in", std::move(args), {"seq"}};
  return contains(a.get(0), v);
}

bool t_sameas(renderer&, const value& v, call_args args) {
  arg_reader a{"sameas", std::move(args), {"other"}};
  auto other = a.get(0);
  if (v.is_undefined() || other.is_undefined())
    return v.is_undefined() && other.is_undefined();
  if (v.is_object() || other.is_object())
    return v.is_object() && other.is_object() && v.obj() == other.obj();
  const auto& l = v.data();
  const auto& r = other.data();
  if ((l.is_null() || l.is_boolean()) && (r.is_null() || r.is_boolean()))
    return l == r;
  return &l == &r;
}

bool t_lower(renderer& r, const value& v, call_args args) {
  arg_reader a{"lower", std::move(args), {}};
  return v.is_string() && truthy(call_method(r, v, "islower", {}));
}

bool t_upper(renderer& r, const value& v, call_args args) {
  arg_reader a{"upper", std::move(args), {}};
  return v.is_string() && truthy(call_method(r, v, "isupper", {}));
}

constexpr std::pair<std::string_view, test_fn> tests[] = {
  {"defined", unary<is_defined>},   {"undefined", unary<is_undefined>},
  {"none", unary<is_none>},         {"boolean", unary<is_boolean>},
  {"true", unary<is_true>},         {"false", unary<is_false>},
  {"integer", unary<is_integer>},   {"float", unary<is_float>},
  {"number", unary<is_number>},     {"string", unary<is_string>},
  {"mapping", unary<is_mapping>},   {"iterable", unary<is_iterable>},
  {"sequence", unary<is_sequence>}, {"callable", unary<is_callable>},
  {"even", t_even},                 {"odd", t_odd},
  {"divisibleby", t_divisibleby},   {"eq", t_compare<0>},
  {"equalto", t_compare<0>},        {"==", t_compare<0>},
  {"ne", t_compare<1>},             {"!=", t_compare<1>},
  {"lt", t_compare<2>},             {"lessthan", t_compare<2>},
  {"<", t_compare<2>},              {"le", t_compare<3>},
  {"<=", t_compare<3>},             {"gt", t_compare<4>},
  {"greaterthan", t_compare<4>},    {">", t_compare<4>},
  {"ge", t_compare<5>},             {">=", t_compare<5>},
  {"in", t_in},                     {"sameas", t_sameas},
  {"lower", t_lower},               {"upper", t_upper},
};

} // namespace

bool apply_test(renderer& r, std::string_view name, const value& input, call_args args) {
  for (const auto& [test_name, fn] : tests)
    if (test_name == name)
      return fn(r, input, std::move(args));
  fail(fmt::format("no test named '{}'", name));
}

} // namespace dynamo::jinja
