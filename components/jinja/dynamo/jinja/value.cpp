#include "dynamo/jinja/value.hpp"

#include "dynamo/error.hpp"
#include "dynamo/jinja/diagnostics.hpp"

#include <fmt/format.h>

namespace dynamo::jinja {

value::value(json data) : v_(std::make_shared<const json>(std::move(data))) {
}

value::value(std::shared_ptr<object> obj) : v_(std::move(obj)) {
  if (!std::get<2>(v_))
    on_internal_error("jinja::value: null object");
}

value value::undefined(std::string hint) {
  value v;
  std::get<0>(v.v_).hint = std::move(hint);
  return v;
}

value value::alias(std::shared_ptr<const json> root, const json& at) {
  value v;
  v.v_ = std::shared_ptr<const json>(std::move(root), &at);
  return v;
}

const json& value::data() const {
  if (!is_data())
    on_internal_error("jinja::value::data on a non-data value");
  return *std::get<1>(v_);
}

const std::shared_ptr<object>& value::obj() const {
  if (!is_object())
    on_internal_error("jinja::value::obj on a non-object value");
  return std::get<2>(v_);
}

std::string value::undefined_hint() const {
  if (!is_undefined() || std::get<0>(v_).hint.empty())
    return "value is undefined";
  return std::get<0>(v_).hint;
}

value value::child(const json& c) const {
  return alias(std::get<1>(v_), c);
}

object::~object() = default;

value object::get_attr(std::string_view name) const {
  return value::undefined(fmt::format("'{}' object has no attribute '{}'", type_name(), name));
}

std::string object::to_str() const {
  return fmt::format("<{} object>", type_name());
}

value object::call(renderer&, call_args) const {
  fail(fmt::format("'{}' object is not callable", type_name()));
}

value namespace_object::get_attr(std::string_view name) const {
  for (const auto& [key, v] : attrs_)
    if (key == name)
      return v;
  return object::get_attr(name);
}

std::string namespace_object::to_str() const {
  std::string out = "<Namespace {";
  bool first = true;
  for (const auto& [key, v] : attrs_) {
    if (!first)
      out += ", ";
    first = false;
    out += py_string_repr(key) + ": " + to_repr(v);
  }
  return out + "}>";
}

void namespace_object::set(std::string name, value v) {
  for (auto& [key, old] : attrs_)
    if (key == name) {
      old = std::move(v);
      return;
    }
  attrs_.emplace_back(std::move(name), std::move(v));
}

bool truthy(const value& v) {
  if (v.is_undefined())
    return false;
  if (v.is_object())
    return true;
  const auto& d = v.data();
  switch (d.type()) {
    case json::value_t::null: return false;
    case json::value_t::boolean: return d.get<bool>();
    case json::value_t::number_integer: return d.get<int64_t>() != 0;
    case json::value_t::number_unsigned: return d.get<uint64_t>() != 0;
    case json::value_t::number_float: return d.get<double>() != 0.0;
    case json::value_t::string: return !d.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object: return !d.empty();
    default: return false;
  }
}

std::string to_str(const value& v) {
  if (v.is_undefined())
    return {};
  if (v.is_object())
    return v.obj()->to_str();
  return py_str(v.data());
}

std::string to_repr(const value& v) {
  if (v.is_undefined())
    return "Undefined";
  if (v.is_object())
    return v.obj()->to_str();
  return py_repr(v.data());
}

std::string_view type_name(const value& v) {
  if (v.is_undefined())
    return "Undefined";
  if (v.is_object())
    return v.obj()->type_name();
  switch (v.data().type()) {
    case json::value_t::null: return "NoneType";
    case json::value_t::boolean: return "bool";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "int";
    case json::value_t::number_float: return "float";
    case json::value_t::string: return "str";
    case json::value_t::array: return "list";
    case json::value_t::object: return "dict";
    default: return "object";
  }
}

namespace {

bool is_numeric(const json& d) {
  return d.is_number() || d.is_boolean();
}

double numeric(const json& d) {
  if (d.is_boolean())
    return d.get<bool>() ? 1.0 : 0.0;
  return d.get<double>();
}

} // namespace

bool data_equals(const json& a, const json& b) {
  if (is_numeric(a) && is_numeric(b)) {
    if ((a.is_number_integer() || a.is_boolean()) && (b.is_number_integer() || b.is_boolean())) {
      auto ia = a.is_boolean() ? static_cast<int64_t>(a.get<bool>()) : a.get<int64_t>();
      auto ib = b.is_boolean() ? static_cast<int64_t>(b.get<bool>()) : b.get<int64_t>();
      return ia == ib;
    }
    return numeric(a) == numeric(b);
  }
  if (a.type() != b.type())
    return false;
  switch (a.type()) {
    case json::value_t::array: {
      if (a.size() != b.size())
        return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!data_equals(a[i], b[i]))
          return false;
      return true;
    }
    case json::value_t::object: {
      if (a.size() != b.size())
        return false;
      for (const auto& [key, item] : a.items()) {
        auto it = b.find(key);
        if (it == b.end() || !data_equals(item, *it))
          return false;
      }
      return true;
    }
    default: return a == b;
  }
}

bool equals(const value& a, const value& b) {
  if (a.is_undefined() || b.is_undefined())
    return a.is_undefined() && b.is_undefined();
  if (a.is_object() || b.is_object())
    return a.is_object() && b.is_object() && a.obj() == b.obj();
  return data_equals(a.data(), b.data());
}

namespace {

int compare_data(const json& a, const json& b, const value& va, const value& vb) {
  if (is_numeric(a) && is_numeric(b)) {
    if ((a.is_number_integer() || a.is_boolean()) && (b.is_number_integer() || b.is_boolean())) {
      auto ia = a.is_boolean() ? static_cast<int64_t>(a.get<bool>()) : a.get<int64_t>();
      auto ib = b.is_boolean() ? static_cast<int64_t>(b.get<bool>()) : b.get<int64_t>();
      return ia < ib ? -1 : (ia > ib ? 1 : 0);
    }
    auto da = numeric(a);
    auto db = numeric(b);
    return da < db ? -1 : (da > db ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    auto c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_array() && b.is_array()) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (data_equals(a[i], b[i]))
        continue;
      return compare_data(a[i], b[i], va, vb);
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  fail(fmt::format("'<' not supported between instances of '{}' and '{}'", type_name(va),
                   type_name(vb)));
}

} // namespace

int compare(const value& a, const value& b) {
  if (!a.is_data() || !b.is_data())
    fail(fmt::format("'<' not supported between instances of '{}' and '{}'", type_name(a),
                     type_name(b)));
  return compare_data(a.data(), b.data(), a, b);
}

json to_data(const value& v) {
  if (v.is_undefined())
    return nullptr;
  if (v.is_object())
    fail(fmt::format("a '{}' object cannot be stored in a list or dict", v.obj()->type_name()));
  return v.data();
}

std::optional<int64_t> as_int(const value& v) {
  if (!v.is_data())
    return std::nullopt;
  const auto& d = v.data();
  if (d.is_boolean())
    return d.get<bool>() ? 1 : 0;
  if (d.is_number_integer())
    return d.get<int64_t>();
  return std::nullopt;
}

std::optional<double> as_double(const value& v) {
  if (!v.is_data() || !is_numeric(v.data()))
    return std::nullopt;
  return numeric(v.data());
}

} // namespace dynamo::jinja
