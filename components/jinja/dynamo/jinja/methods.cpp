// Methods of str and dict values that chat templates call (text.strip(), d.items(), ...).
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/renderer.hpp"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>

namespace dynamo::jinja {

namespace {

constexpr std::array<std::string_view, 28> string_methods = {
  "strip",   "lstrip",  "rstrip",     "split",   "rsplit",  "splitlines", "startswith",
  "endswith", "upper",  "lower",      "title",   "capitalize", "replace", "find",
  "rfind",   "index",   "count",      "join",    "isdigit", "isalpha",   "isalnum",
  "isspace", "islower", "isupper",    "format",  "casefold", "swapcase", "zfill"};

constexpr std::array<std::string_view, 4> dict_methods = {"items", "keys", "values", "get"};

json to_list(const std::vector<std::string>& parts) {
  json out = json::array();
  for (const auto& p : parts)
    out.push_back(p);
  return out;
}

std::vector<std::string> py_rsplit(std::string_view text, const std::optional<std::string>& sep,
                                   int64_t maxsplit) {
  if (maxsplit < 0)
    return py_split(text, sep, maxsplit);
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty())
      fail("rsplit: empty separator");
    auto end = text.size();
    while (static_cast<int64_t>(out.size()) < maxsplit) {
      auto hit = end >= sep->size() ? text.rfind(*sep, end - sep->size()) : std::string::npos;
      if (hit == std::string_view::npos)
        break;
      out.emplace_back(text.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(text.substr(0, end));
  } else {
    auto cps = decode_utf8(text);
    size_t end = cps.size();
    while (true) {
      while (end > 0 && is_py_space(cps[end - 1]))
        --end;
      if (end == 0)
        break;
      if (static_cast<int64_t>(out.size()) >= maxsplit) {
        out.push_back(encode_utf8(std::u32string_view{cps}.substr(0, end)));
        break;
      }
      size_t start = end;
      while (start > 0 && !is_py_space(cps[start - 1]))
        --start;
      out.push_back(encode_utf8(std::u32string_view{cps}.substr(start, end - start)));
      end = start;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

template <class Pred>
bool all_code_points(std::string_view text, Pred&& pred) {
  auto cps = decode_utf8(text);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

utf8proc_category_t category(char32_t cp) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

bool is_alpha(char32_t cp) {
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool is_digit(char32_t cp) {
  return category(cp) == UTF8PROC_CATEGORY_ND;
}

// Python's islower/isupper: at least one cased character and none of the other case.
bool case_test(std::string_view text, bool upper) {
  bool cased = false;
  for (auto cp : decode_utf8(text)) {
    auto c = category(cp);
    if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) {
      if (!upper)
        return false;
      cased = true;
    } else if (c == UTF8PROC_CATEGORY_LL) {
      if (upper)
        return false;
      cased = true;
    }
  }
  return cased;
}

bool affix_matches(const value& affix, std::string_view method, std::string_view text,
                   bool prefix) {
  auto one = [&](const json& a) {
    if (!a.is_string())
      fail(fmt::format("{} first arg must be str or a tuple of str, not {}", method,
                       a.type_name()));
    const auto& s = a.get_ref<const std::string&>();
    return prefix ? text.starts_with(s) : text.ends_with(s);
  };
  if (affix.is_list()) {
    for (const auto& a : affix.data())
      if (one(a))
        return true;
    return false;
  }
  if (!affix.is_string())
    fail(fmt::format("{} first arg must be str or a tuple of str, not {}", method,
                     type_name(affix)));
  return one(affix.data());
}

value string_method(renderer& r, const std::string& self, std::string_view name,
                    call_args args) {
  auto max = r.options().max_output_bytes;
  std::string fn = fmt::format("str.{}", name);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    arg_reader a{fn, std::move(args), {"chars"}};
    auto side = name == "strip" ? strip_side::both
                                : (name == "lstrip" ? strip_side::left : strip_side::right);
    return value{json(py_strip(self, a.get_optional_string(0), side))};
  }
  if (name == "split" || name == "rsplit") {
    arg_reader a{fn, std::move(args), {"sep", "maxsplit"}};
    auto sep = a.get_optional_string(0);
    auto maxsplit = a.get_int(1, -1);
    return value{to_list(name == "split" ? py_split(self, sep, maxsplit)
                                         : py_rsplit(self, sep, maxsplit))};
  }
  if (name == "splitlines") {
    arg_reader a{fn, std::move(args), {"keepends"}};
    bool keep = a.get_bool(0, false);
    json out = json::array();
    size_t start = 0;
    for (size_t i = 0; i < self.size(); ++i) {
      if (self[i] != '\n' && self[i] != '\r')
        continue;
      size_t end = i;
      if (self[i] == '\r' && i + 1 < self.size() && self[i + 1] == '\n')
        ++i;
      out.push_back(self.substr(start, (keep ? i + 1 : end) - start));
      start = i + 1;
    }
    if (start < self.size())
      out.push_back(self.substr(start));
    return value{std::move(out)};
  }
  if (name == "startswith" || name == "endswith") {
    arg_reader a{fn, std::move(args), {"affix"}};
    if (!a.has(0))
      fail(fmt::format("{}() takes exactly one argument (0 given)", fn));
    return value{json(affix_matches(a.get(0), fn, self, name == "startswith"))};
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize"
      || name == "casefold" || name == "swapcase") {
    arg_reader a{fn, std::move(args), {}};
    if (name == "upper")
      return value{json(py_upper(self))};
    if (name == "lower" || name == "casefold")
      return value{json(py_lower(self))};
    if (name == "title")
      return value{json(py_title(self))};
    if (name == "capitalize")
      return value{json(py_capitalize(self))};
    std::string out;
    for (auto cp : decode_utf8(self)) {
      auto c = category(cp);
      auto mapped = c == UTF8PROC_CATEGORY_LL ? utf8proc_toupper(static_cast<int32_t>(cp))
                    : c == UTF8PROC_CATEGORY_LU ? utf8proc_tolower(static_cast<int32_t>(cp))
                                                : static_cast<int32_t>(cp);
      append_utf8(out, static_cast<char32_t>(mapped));
    }
    return value{json(std::move(out))};
  }
  if (name == "replace") {
    arg_reader a{fn, std::move(args), {"old", "new", "count"}};
    if (!a.has(0) || !a.has(1))
      fail("str.replace() takes at least 2 arguments");
    return value{json(py_replace(self, a.get_string(0, {}), a.get_string(1, {}),
                                 a.get_int(2, -1), max))};
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "count") {
    arg_reader a{fn, std::move(args), {"sub"}};
    if (!a.has(0))
      fail(fmt::format("{}() takes at least 1 argument (0 given)", fn));
    auto sub = a.get_string(0, {});
    if (name == "count") {
      if (sub.empty())
        return value{json(static_cast<int64_t>(code_point_count(self) + 1))};
      int64_t n = 0;
      for (auto pos = self.find(sub); pos != std::string::npos; pos = self.find(sub, pos + sub.size()))
        ++n;
      return value{json(n)};
    }
    auto pos = name == "rfind" ? self.rfind(sub) : self.find(sub);
    if (pos == std::string::npos) {
      if (name == "index")
        fail("substring not found");
      return value{json(-1)};
    }
    return value{json(static_cast<int64_t>(code_point_count(std::string_view{self}.substr(0, pos))))};
  }
  if (name == "join") {
    arg_reader a{fn, std::move(args), {"iterable"}};
    std::string out;
    size_t index = 0;
    for (const auto& item : iterate(a.get(0))) {
      if (!item.is_string())
        fail(fmt::format("sequence item {}: expected str instance, {} found", index,
                         type_name(item)));
      if (index++ > 0)
        out += self;
      out += item.str();
      r.check_size(out.size());
    }
    return value{json(std::move(out))};
  }
  if (name == "zfill") {
    arg_reader a{fn, std::move(args), {"width"}};
    auto width = a.get_int(0, 0);
    auto len = static_cast<int64_t>(code_point_count(self));
    if (width <= len)
      return value{json(self)};
    r.check_size(static_cast<size_t>(width));
    std::string out = self;
    size_t sign = !out.empty() && (out[0] == '-' || out[0] == '+') ? 1 : 0;
    out.insert(sign, static_cast<size_t>(width - len), '0');
    return value{json(std::move(out))};
  }
  if (name == "format")
    fail("str.format() is not supported");
  arg_reader a{fn, std::move(args), {}};
  if (name == "isdigit")
    return value{json(all_code_points(self, is_digit))};
  if (name == "isalpha")
    return value{json(all_code_points(self, is_alpha))};
  if (name == "isalnum")
    return value{json(all_code_points(self, [](char32_t cp) { return is_alpha(cp) || is_digit(cp); }))};
  if (name == "isspace")
    return value{json(all_code_points(self, is_py_space))};
  if (name == "islower" || name == "isupper")
    return value{json(case_test(self, name == "isupper"))};
  fail(fmt::format("'str' object has no attribute '{}'", name));
}

value dict_method(const value& self, std::string_view name, call_args args) {
  const auto& d = self.data();
  std::string fn = fmt::format("dict.{}", name);
  if (name == "get") {
    arg_reader a{fn, std::move(args), {"key", "default"}};
    if (!a.has(0))
      fail("dict.get() takes at least 1 argument (0 given)");
    auto key = a.get(0);
    if (key.is_string()) {
      auto it = d.find(key.str());
      if (it != d.end())
        return self.child(*it);
    }
    return a.get(1, value{json(nullptr)});
  }
  arg_reader a{fn, std::move(args), {}};
  json out = json::array();
  for (const auto& [key, item] : d.items()) {
    if (name == "items")
      out.push_back(json::array({key, item}));
    else if (name == "keys")
      out.push_back(key);
    else
      out.push_back(item);
  }
  return value{std::move(out)};
}

} // namespace

bool has_method(const value& self, std::string_view name) {
  if (self.is_string())
    return std::find(string_methods.begin(), string_methods.end(), name) != string_methods.end();
  if (self.is_mapping())
    return std::find(dict_methods.begin(), dict_methods.end(), name) != dict_methods.end();
  return false;
}

value call_method(renderer& r, const value& self, std::string_view name, call_args args) {
  if (self.is_string())
    return string_method(r, self.str(), name, std::move(args));
  if (self.is_mapping() && has_method(self, name))
    return dict_method(self, name, std::move(args));
  fail(fmt::format("'{}' object has no attribute '{}'", type_name(self), name));
}

} // namespace dynamo::jinja
