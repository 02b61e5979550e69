// Attribute, item and slice access, iteration and membership, as Jinja2 evaluates them.
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/renderer.hpp"

#include <fmt/format.h>

#include <limits>

namespace dynamo::jinja {

namespace {

// A method looked up on a str or dict value, called later: `text.strip`.
class bound_method final : public object {
public:
  bound_method(value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {
  }
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  std::string to_str() const override {
    return fmt::format("<built-in method {} of {} object>", name_, jinja::type_name(self_));
  }
  bool is_callable() const noexcept override { return true; }
  value call(renderer& r, call_args args) const override {
    return call_method(r, self_, name_, std::move(args));
  }

private:
  value self_;
  std::string name_;
};

// Jinja's object_type_repr: "'dict object'", "'None'".
std::string object_repr(const value& v) {
  if (v.is_none())
    return "'None'";
  return fmt::format("'{} object'", type_name(v));
}

// The unquoted form used for missing elements: "list object", "None".
std::string element_owner(const value& v) {
  if (v.is_none())
    return "None";
  return fmt::format("{} object", type_name(v));
}

value missing_attribute(const value& obj, std::string_view name) {
  return value::undefined(fmt::format("{} has no attribute '{}'", object_repr(obj), name));
}

std::optional<int64_t> slice_index(const value& v, std::string_view what) {
  if (v.is_none() || v.is_undefined())
    return std::nullopt;
  auto i = as_int(v);
  if (!i)
    fail(fmt::format("slice {} must be an integer or None, not '{}'", what, type_name(v)));
  return i;
}

} // namespace

value get_attribute(const value& obj, std::string_view name) {
  if (obj.is_undefined())
    fail(obj.undefined_hint());
  if (obj.is_object())
    return obj.obj()->get_attr(name);
  if (has_method(obj, name))
    return value{std::make_shared<bound_method>(obj, std::string{name})};
  if (obj.is_mapping()) {
    const auto& d = obj.data();
    auto it = d.find(name);
    if (it != d.end())
      return obj.child(*it);
  }
  return missing_attribute(obj, name);
}

value get_item(const value& obj, const value& key) {
  if (obj.is_undefined())
    fail(obj.undefined_hint());
  if (key.is_undefined())
    fail(key.undefined_hint());
  if (obj.is_object())
    return key.is_string() ? obj.obj()->get_attr(key.str()) : missing_attribute(obj, to_str(key));
  const auto& d = obj.data();
  if (d.is_object() && key.is_string()) {
    auto it = d.find(key.str());
    if (it != d.end())
      return obj.child(*it);
  }
  if ((d.is_array() || d.is_string()) && as_int(key)) {
    auto i = *as_int(key);
    if (d.is_array()) {
      auto n = static_cast<int64_t>(d.size());
      if (i < 0)
        i += n;
      if (i >= 0 && i < n)
        return obj.child(d[static_cast<size_t>(i)]);
    } else {
      auto cps = decode_utf8(d.get_ref<const std::string&>());
      auto n = static_cast<int64_t>(cps.size());
      if (i < 0)
        i += n;
      if (i >= 0 && i < n)
        return value{json(encode_utf8(std::u32string(1, cps[static_cast<size_t>(i)])))};
    }
    return value::undefined(fmt::format("{} has no element {}", element_owner(obj), *as_int(key)));
  }
  if (key.is_string())
    return get_attribute(obj, key.str());
  return value::undefined(fmt::format("{} has no element {}", element_owner(obj), to_repr(key)));
}

value get_slice(const value& obj, const value& start_v, const value& stop_v,
                const value& step_v) {
  if (obj.is_undefined())
    fail(obj.undefined_hint());
  auto step = slice_index(step_v, "step").value_or(1);
  if (step == 0)
    fail("slice step cannot be zero");
  auto adjust = [step](std::optional<int64_t> idx, int64_t len, bool is_start) {
    if (!idx)
      return is_start ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
    auto i = *idx;
    if (i < 0) {
      i += len;
      if (i < 0)
        i = step < 0 ? -1 : 0;
    } else if (i >= len) {
      i = step < 0 ? len - 1 : len;
    }
    return i;
  };
  auto indices = [&](int64_t len) {
    std::vector<size_t> out;
    auto start = adjust(slice_index(start_v, "start"), len, true);
    auto stop = adjust(slice_index(stop_v, "stop"), len, false);
    for (auto i = start; step > 0 ? i < stop : i > stop; i += step)
      out.push_back(static_cast<size_t>(i));
    return out;
  };
  if (obj.is_list()) {
    const auto& d = obj.data();
    json out = json::array();
    for (auto i : indices(static_cast<int64_t>(d.size())))
      out.push_back(d[i]);
    return value{std::move(out)};
  }
  if (obj.is_string()) {
    auto cps = decode_utf8(obj.str());
    std::u32string out;
    for (auto i : indices(static_cast<int64_t>(cps.size())))
      out.push_back(cps[i]);
    return value{json(encode_utf8(out))};
  }
  fail(fmt::format("'{}' object is not subscriptable", type_name(obj)));
}

std::vector<value> iterate(const value& v) {
  std::vector<value> out;
  if (v.is_undefined())
    return out;
  if (v.is_object())
    fail(fmt::format("'{}' object is not iterable", v.obj()->type_name()));
  const auto& d = v.data();
  if (d.is_array()) {
    out.reserve(d.size());
    for (const auto& item : d)
      out.push_back(v.child(item));
  } else if (d.is_object()) {
    out.reserve(d.size());
    for (const auto& [key, unused] : d.items())
      out.emplace_back(json(key));
  } else if (d.is_string()) {
    for (auto cp : decode_utf8(d.get_ref<const std::string&>()))
      out.emplace_back(json(encode_utf8(std::u32string(1, cp))));
  } else {
    fail(fmt::format("'{}' object is not iterable", type_name(v)));
  }
  return out;
}

size_t length_of(const value& v) {
  if (v.is_undefined())
    return 0;
  if (v.is_string())
    return code_point_count(v.str());
  if (v.is_list() || v.is_mapping())
    return v.data().size();
  fail(fmt::format("object of type '{}' has no len()", type_name(v)));
}

bool contains(const value& haystack, const value& needle) {
  if (haystack.is_undefined())
    return false;
  if (haystack.is_string()) {
    if (!needle.is_string())
      fail(fmt::format("'in <string>' requires string as left operand, not {}",
                       type_name(needle)));
    return haystack.str().find(needle.str()) != std::string::npos;
  }
  if (haystack.is_list()) {
    for (const auto& item : haystack.data())
      if (needle.is_data() && data_equals(item, needle.data()))
        return true;
    return false;
  }
  if (haystack.is_mapping())
    return needle.is_string() && haystack.data().contains(needle.str());
  fail(fmt::format("argument of type '{}' is not iterable", type_name(haystack)));
}

} // namespace dynamo::jinja
