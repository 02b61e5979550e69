// Builtin filters with Jinja2 3.1 semantics; tojson follows Hugging Face's override
// (json.dumps with ensure_ascii=False, sort_keys=False).
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/renderer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace dynamo::jinja {

namespace {

using filter_fn = value (*)(renderer&, const value&, call_args);

value str_value(std::string s) {
  return value{json(std::move(s))};
}

// Jinja's make_attrgetter: "a.b.0" looked up with getitem semantics.
value get_path(const value& item, const std::string& path) {
  value v = item;
  size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    auto part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto index = parse_int(part);
    v = index && !part.empty() && part.find_first_not_of("0123456789") == std::string::npos
          ? get_item(v, value{json(*index)})
          : get_item(v, value{json(part)});
    if (dot == std::string::npos)
      return v;
    if (v.is_undefined())
      return v;
    start = dot + 1;
  }
}

std::string attribute_arg(const value& v, std::string_view filter) {
  if (v.is_string())
    return v.str();
  if (auto i = as_int(v))
    return std::to_string(*i);
  fail(fmt::format("{}: attribute must be a string or integer, not '{}'", filter, type_name(v)));
}

// Comparison key for sort/unique/min/max: lower-cased strings unless case sensitive.
value sort_key(const value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string())
    return value{json(py_lower(v.str()))};
  return v;
}

value f_abs(renderer&, const value& v, call_args args) {
  arg_reader a{"abs", std::move(args), {}};
  if (auto i = as_int(v)) {
    if (*i == std::numeric_limits<int64_t>::min())
      fail("integer overflow");
    return value{json(*i < 0 ? -*i : *i)};
  }
  if (auto d = as_double(v))
    return value{json(std::fabs(*d))};
  fail(fmt::format("bad operand type for abs(): '{}'", type_name(v)));
}

value f_attr(renderer&, const value& v, call_args args) {
  arg_reader a{"attr", std::move(args), {"name"}};
  return get_attribute(v, a.get_string(0, {}));
}

value f_capitalize(renderer&, const value& v, call_args args) {
  arg_reader a{"capitalize", std::move(args), {}};
  return str_value(py_capitalize(to_str(v)));
}

value f_center(renderer& r, const value& v, call_args args) {
  arg_reader a{"center", std::move(args), {"width"}};
  auto s = to_str(v);
  auto width = a.get_int(0, 80);
  auto len = static_cast<int64_t>(code_point_count(s));
  if (width <= len)
    return str_value(std::move(s));
  r.check_size(static_cast<size_t>(width) + s.size());
  auto pad = width - len;
  // Python's str.center puts the extra space on the right unless len and width are both odd.
  auto left = pad / 2 + (pad & width & 1);
  return str_value(std::string(static_cast<size_t>(left), ' ') + s
                   + std::string(static_cast<size_t>(pad - left), ' '));
}

value f_default(renderer&, const value& v, call_args args) {
  arg_reader a{"default", std::move(args), {"default_value", "boolean"}};
  bool boolean = a.get_bool(1, false);
  if (v.is_undefined() || (boolean && !truthy(v)))
    return a.get(0, value{json("")});
  return v;
}

value f_dictsort(renderer&, const value& v, call_args args) {
  arg_reader a{"dictsort", std::move(args), {"case_sensitive", "by", "reverse"}};
  if (!v.is_mapping())
    fail("dictsort: you can only sort by either a mapping");
  bool case_sensitive = a.get_bool(0, false);
  auto by = a.get_string(1, "key");
  bool reverse = a.get_bool(2, false);
  if (by != "key" && by != "value")
    fail("dictsort: 'by' must be 'key' or 'value'");
  std::vector<std::pair<value, value>> items;
  for (const auto& [key, item] : v.data().items())
    items.emplace_back(value{json(key)}, v.child(item));
  std::stable_sort(items.begin(), items.end(),
                   [by, case_sensitive, reverse](const auto& x, const auto& y) {
                     const auto& l = by == "key" ? x.first : x.second;
                     const auto& r = by == "key" ? y.first : y.second;
                     int c = compare(sort_key(l, case_sensitive), sort_key(r, case_sensitive));
                     return reverse ? c > 0 : c < 0;
                   });
  json out = json::array();
  for (const auto& [key, item] : items)
    out.push_back(json::array({key.data(), item.data()}));
  return value{std::move(out)};
}

value f_escape(renderer& r, const value& v, call_args args) {
  arg_reader a{"escape", std::move(args), {}};
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  r.check_size(out.size());
  return str_value(std::move(out));
}

value f_first(renderer&, const value& v, call_args args) {
  arg_reader a{"first", std::move(args), {}};
  if (v.is_list())
    return v.data().empty() ? value::undefined("No first item, sequence was empty.")
                            : v.child(v.data().front());
  auto items = iterate(v);
  return items.empty() ? value::undefined("No first item, sequence was empty.") : items.front();
}

value f_last(renderer&, const value& v, call_args args) {
  arg_reader a{"last", std::move(args), {}};
  if (v.is_list())
    return v.data().empty() ? value::undefined("No last item, sequence was empty.")
                            : v.child(v.data().back());
  auto items = iterate(v);
  return items.empty() ? value::undefined("No last item, sequence was empty.") : items.back();
}

value f_float(renderer&, const value& v, call_args args) {
  arg_reader a{"float", std::move(args), {"default"}};
  if (auto d = as_double(v))
    return value{json(*d)};
  if (v.is_string())
    if (auto d = parse_float(v.str()))
      return value{json(*d)};
  return a.get(0, value{json(0.0)});
}

value f_int(renderer&, const value& v, call_args args) {
  arg_reader a{"int", std::move(args), {"default", "base"}};
  if (auto i = as_int(v))
    return value{json(*i)};
  if (auto d = as_double(v)) {
    if (std::isfinite(*d) && std::fabs(*d) < 9.2e18)
      return value{json(static_cast<int64_t>(*d))};
  } else if (v.is_string()) {
    if (auto i = parse_int(v.str()))
      return value{json(*i)};
    if (auto f = parse_float(v.str()); f && std::isfinite(*f) && std::fabs(*f) < 9.2e18)
      return value{json(static_cast<int64_t>(*f))};
  }
  return a.get(0, value{json(0)});
}

value f_indent(renderer& r, const value& v, call_args args) {
  arg_reader a{"indent", std::move(args), {"width", "first", "blank"}};
  std::string indention;
  auto width = a.get(0, value{json(4)});
  if (width.is_string())
    indention = width.str();
  else
    indention = std::string(static_cast<size_t>(std::clamp<int64_t>(a.get_int(0, 4), 0, 4096)), ' ');
  bool first = a.get_bool(1, false);
  bool blank = a.get_bool(2, false);
  auto s = to_str(v) + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\n' && s[i] != '\r')
      continue;
    lines.push_back(s.substr(start, i - start));
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
      ++i;
    start = i + 1;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += '\n';
      if (blank || !lines[i].empty())
        out += indention;
    }
    out += lines[i];
    r.check_size(out.size());
  }
  if (first)
    out = indention + out;
  r.check_size(out.size());
  return str_value(std::move(out));
}

value f_items(renderer&, const value& v, call_args args) {
  arg_reader a{"items", std::move(args), {}};
  if (v.is_undefined())
    return value{json::array()};
  if (!v.is_mapping())
    fail("Can only get item pairs from a mapping.");
  json out = json::array();
  for (const auto& [key, item] : v.data().items())
    out.push_back(json::array({key, item}));
  return value{std::move(out)};
}

value f_join(renderer& r, const value& v, call_args args) {
  arg_reader a{"join", std::move(args), {"d", "attribute"}};
  auto sep = to_str(a.get(0, value{json("")}));
  std::optional<std::string> attribute;
  if (a.has(1) && !a.get(1).is_none())
    attribute = attribute_arg(a.get(1), "join");
  std::string out;
  bool first = true;
  for (const auto& item : iterate(v)) {
    if (!first)
      out += sep;
    first = false;
    out += to_str(attribute ? get_path(item, *attribute) : item);
    r.check_size(out.size());
  }
  return str_value(std::move(out));
}

value f_length(renderer&, const value& v, call_args args) {
  arg_reader a{"length", std::move(args), {}};
  return value{json(static_cast<int64_t>(length_of(v)))};
}

value f_list(renderer&, const value& v, call_args args) {
  arg_reader a{"list", std::move(args), {}};
  json out = json::array();
  for (const auto& item : iterate(v))
    out.push_back(to_data(item));
  return value{std::move(out)};
}

value f_lower(renderer&, const value& v, call_args args) {
  arg_reader a{"lower", std::move(args), {}};
  return str_value(py_lower(to_str(v)));
}

value f_upper(renderer&, const value& v, call_args args) {
  arg_reader a{"upper", std::move(args), {}};
  return str_value(py_upper(to_str(v)));
}

value f_map(renderer& r, const value& v, call_args args) {
  json out = json::array();
  auto attribute_it = std::find_if(args.keyword.begin(), args.keyword.end(),
                                   [](const auto& kw) { return kw.first == "attribute"; });
  if (attribute_it != args.keyword.end() || args.positional.empty()) {
    arg_reader a{"map", std::move(args), {"attribute", "default"}};
    if (!a.has(0))
      fail("map: requires a filter name or attribute=");
    auto attribute = attribute_arg(a.get(0), "map");
    for (const auto& item : iterate(v)) {
      auto mapped = get_path(item, attribute);
      if (mapped.is_undefined() && a.has(1))
        mapped = a.get(1);
      out.push_back(to_data(mapped));
    }
    return value{std::move(out)};
  }
  if (!args.positional.front().is_string())
    fail("map: the filter name must be a string");
  auto name = args.positional.front().str();
  args.positional.erase(args.positional.begin());
  for (const auto& item : iterate(v))
    out.push_back(to_data(r.filter(name, item, args)));
  return value{std::move(out)};
}

value select_impl(renderer& r, const value& v, call_args args, bool by_attribute, bool keep,
                  std::string_view filter) {
  std::optional<std::string> attribute;
  if (by_attribute) {
    if (args.positional.empty())
      fail(fmt::format("{}: missing attribute name", filter));
    attribute = attribute_arg(args.positional.front(), filter);
    args.positional.erase(args.positional.begin());
  }
  std::optional<std::string> test_name;
  if (!args.positional.empty()) {
    if (!args.positional.front().is_string())
      fail(fmt::format("{}: the test name must be a string", filter));
    test_name = args.positional.front().str();
    args.positional.erase(args.positional.begin());
  }
  json out = json::array();
  for (const auto& item : iterate(v)) {
    auto subject = attribute ? get_path(item, *attribute) : item;
    bool ok = test_name ? r.test(*test_name, subject, args) : truthy(subject);
    if (ok == keep)
      out.push_back(to_data(item));
  }
  return value{std::move(out)};
}

value f_select(renderer& r, const value& v, call_args args) {
  return select_impl(r, v, std::move(args), false, true, "select");
}

value f_reject(renderer& r, const value& v, call_args args) {
  return select_impl(r, v, std::move(args), false, false, "reject");
}

value f_selectattr(renderer& r, const value& v, call_args args) {
  return select_impl(r, v, std::move(args), true, true, "selectattr");
}

value f_rejectattr(renderer& r, const value& v, call_args args) {
  return select_impl(r, v, std::move(args), true, false, "rejectattr");
}

value min_max(const value& v, call_args args, bool want_max) {
  arg_reader a{want_max ? "max" : "min", std::move(args), {"case_sensitive", "attribute"}};
  bool case_sensitive = a.get_bool(0, false);
  std::optional<std::string> attribute;
  if (a.has(1) && !a.get(1).is_none())
    attribute = attribute_arg(a.get(1), want_max ? "max" : "min");
  auto items = iterate(v);
  if (items.empty())
    return value::undefined(fmt::format("No aggregated item, sequence was empty."));
  auto key = [&](const value& item) {
    return sort_key(attribute ? get_path(item, *attribute) : item, case_sensitive);
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    int c = compare(key(items[i]), key(items[best]));
    if (want_max ? c > 0 : c < 0)
      best = i;
  }
  return items[best];
}

value f_max(renderer&, const value& v, call_args args) {
  return min_max(v, std::move(args), true);
}

value f_min(renderer&, const value& v, call_args args) {
  return min_max(v, std::move(args), false);
}

value f_replace(renderer& r, const value& v, call_args args) {
  arg_reader a{"replace", std::move(args), {"old", "new", "count"}};
  auto count = a.has(2) && !a.get(2).is_none() ? a.get_int(2, -1) : -1;
  return str_value(py_replace(to_str(v), to_str(a.get(0)), to_str(a.get(1)), count,
                              r.options().max_output_bytes));
}

value f_reverse(renderer&, const value& v, call_args args) {
  arg_reader a{"reverse", std::move(args), {}};
  if (v.is_string()) {
    auto cps = decode_utf8(v.str());
    std::reverse(cps.begin(), cps.end());
    return str_value(encode_utf8(cps));
  }
  auto items = iterate(v);
  json out = json::array();
  for (auto it = items.rbegin(); it != items.rend(); ++it)
    out.push_back(to_data(*it));
  return value{std::move(out)};
}

value f_round(renderer&, const value& v, call_args args) {
  arg_reader a{"round", std::move(args), {"precision", "method"}};
  auto precision = std::clamp<int64_t>(a.get_int(0, 0), -300, 300);
  auto method = a.get_string(1, "common");
  auto d = as_double(v);
  if (!d)
    fail(fmt::format("round: expected a number, got '{}'", type_name(v)));
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = *d * scale;
  if (method == "common")
    x = std::nearbyint(x);
  else if (method == "ceil")
    x = std::ceil(x);
  else if (method == "floor")
    x = std::floor(x);
  else
    fail("round: method must be 'common', 'ceil' or 'floor'");
  return value{json(x / scale)};
}

value f_safe(renderer&, const value& v, call_args args) {
  arg_reader a{"safe", std::move(args), {}};
  return v.is_undefined() ? str_value("") : v;
}

value f_sort(renderer&, const value& v, call_args args) {
  arg_reader a{"sort", std::move(args), {"reverse", "case_sensitive", "attribute"}};
  bool reverse = a.get_bool(0, false);
  bool case_sensitive = a.get_bool(1, false);
  std::optional<std::string> attribute;
  if (a.has(2) && !a.get(2).is_none())
    attribute = attribute_arg(a.get(2), "sort");
  auto items = iterate(v);
  std::vector<std::pair<value, value>> keyed;
  for (auto& item : items)
    keyed.emplace_back(sort_key(attribute ? get_path(item, *attribute) : item, case_sensitive),
                       item);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    int c = compare(x.first, y.first);
    return reverse ? c > 0 : c < 0;
  });
  json out = json::array();
  for (const auto& [key, item] : keyed)
    out.push_back(to_data(item));
  return value{std::move(out)};
}

value f_string(renderer&, const value& v, call_args args) {
  arg_reader a{"string", std::move(args), {}};
  return str_value(to_str(v));
}

value f_sum(renderer& r, const value& v, call_args args) {
  arg_reader a{"sum", std::move(args), {"attribute", "start"}};
  std::optional<std::string> attribute;
  if (a.has(0) && !a.get(0).is_none())
    attribute = attribute_arg(a.get(0), "sum");
  value total = a.get(1, value{json(0)});
  for (const auto& item : iterate(v))
    total = binary_operator(r, "+", total, attribute ? get_path(item, *attribute) : item);
  return total;
}

value f_title(renderer&, const value& v, call_args args) {
  arg_reader a{"title", std::move(args), {}};
  // Jinja: split on runs of [-\s({\[<], upper-case the first character of each piece and
  // lower-case the rest.
  auto cps = decode_utf8(to_str(v));
  auto is_boundary = [](char32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_py_space(cp);
  };
  std::string out;
  bool at_start = true;
  for (auto cp : cps) {
    if (is_boundary(cp)) {
      append_utf8(out, cp);
      at_start = true;
      continue;
    }
    std::string one;
    append_utf8(one, cp);
    out += at_start ? py_upper(one) : py_lower(one);
    at_start = false;
  }
  return str_value(std::move(out));
}

value f_tojson(renderer& r, const value& v, call_args args) {
  arg_reader a{"tojson", std::move(args),
               {"indent", "ensure_ascii", "separators", "sort_keys"}};
  if (!v.is_data())
    fail(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
  dumps_options opt;
  auto indent = a.get(0, value{json(nullptr)});
  if (indent.is_string())
    opt.indent = indent.str();
  else if (auto n = as_int(indent))
    opt.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(*n, 0, 256)), ' ');
  else if (!indent.is_none() && !indent.is_undefined())
    fail("tojson: indent must be an integer or string");
  if (opt.indent)
    opt.item_separator = ",";
  opt.ensure_ascii = a.get_bool(1, false);
  auto separators = a.get(2, value{json(nullptr)});
  if (separators.is_list()) {
    const auto& s = separators.data();
    if (s.size() != 2 || !s[0].is_string() || !s[1].is_string())
      fail("tojson: separators must be a pair of strings");
    opt.item_separator = s[0].get<std::string>();
    opt.key_separator = s[1].get<std::string>();
  } else if (!separators.is_none() && !separators.is_undefined()) {
    fail("tojson: separators must be a pair of strings");
  }
  opt.sort_keys = a.get_bool(3, false);
  return str_value(py_json_dumps(v.data(), opt, r.options().max_output_bytes));
}

value f_trim(renderer&, const value& v, call_args args) {
  arg_reader a{"trim", std::move(args), {"chars"}};
  return str_value(py_strip(to_str(v), a.get_optional_string(0), strip_side::both));
}

value f_unique(renderer&, const value& v, call_args args) {
  arg_reader a{"unique", std::move(args), {"case_sensitive", "attribute"}};
  bool case_sensitive = a.get_bool(0, false);
  std::optional<std::string> attribute;
  if (a.has(1) && !a.get(1).is_none())
    attribute = attribute_arg(a.get(1), "unique");
  std::vector<value> seen;
  json out = json::array();
  for (const auto& item : iterate(v)) {
    auto key = sort_key(attribute ? get_path(item, *attribute) : item, case_sensitive);
    if (std::any_of(seen.begin(), seen.end(),
                    [&key](const value& s) { return equals(s, key); }))
      continue;
    seen.push_back(key);
    out.push_back(to_data(item));
  }
  return value{std::move(out)};
}

value f_wordcount(renderer&, const value& v, call_args args) {
  arg_reader a{"wordcount", std::move(args), {}};
  return value{json(static_cast<int64_t>(py_split(to_str(v), std::nullopt, -1).size()))};
}

constexpr std::pair<std::string_view, filter_fn> filters[] = {
  {"abs", f_abs},           {"attr", f_attr},         {"capitalize", f_capitalize},
  {"center", f_center},     {"count", f_length},      {"d", f_default},
  {"default", f_default},   {"dictsort", f_dictsort}, {"e", f_escape},
  {"escape", f_escape},     {"first", f_first},       {"float", f_float},
  {"indent", f_indent},     {"int", f_int},           {"items", f_items},
  {"join", f_join},         {"last", f_last},         {"length", f_length},
  {"list", f_list},         {"lower", f_lower},       {"map", f_map},
  {"max", f_max},           {"min", f_min},           {"reject", f_reject},
  {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
  {"round", f_round},       {"safe", f_safe},         {"select", f_select},
  {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},
  {"sum", f_sum},           {"title", f_title},       {"tojson", f_tojson},
  {"trim", f_trim},         {"unique", f_unique},     {"upper", f_upper},
  {"wordcount", f_wordcount},
};

} // namespace

value apply_filter(renderer& r, std::string_view name, const value& input, call_args args) {
  for (const auto& [filter_name, fn] : filters)
    if (filter_name == name)
      return fn(r, input, std::move(args));
  fail(fmt::format("no filter named '{}'", name));
}

} // namespace dynamo::jinja
