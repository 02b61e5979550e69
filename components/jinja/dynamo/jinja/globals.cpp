// Global functions: range, namespace, dict, and the two Hugging Face adds to every chat
// template environment, raise_exception(message) and strftime_now(format).
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/renderer.hpp"

#include <fmt/format.h>

#include <ctime>

namespace dynamo::jinja {

namespace {

using global_fn = value (*)(renderer&, call_args);

class builtin_function final : public object {
public:
  builtin_function(std::string_view name, global_fn fn) : name_(name), fn_(fn) {
  }
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  std::string to_str() const override { return fmt::format("<built-in function {}>", name_); }
  bool is_callable() const noexcept override { return true; }
  value call(renderer& r, call_args args) const override { return fn_(r, std::move(args)); }

private:
  std::string_view name_;
  global_fn fn_;
};

value g_range(renderer& r, call_args args) {
  if (!args.keyword.empty())
    fail("range() takes no keyword arguments");
  std::vector<int64_t> ints;
  for (const auto& a : args.positional) {
    auto i = as_int(a);
    if (!i)
      fail(fmt::format("'{}' object cannot be interpreted as an integer", type_name(a)));
    ints.push_back(*i);
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  switch (ints.size()) {
    case 1: stop = ints[0]; break;
    case 2: start = ints[0], stop = ints[1]; break;
    case 3: start = ints[0], stop = ints[1], step = ints[2]; break;
    default: fail(fmt::format("range expected 1 to 3 arguments, got {}", ints.size()));
  }
  if (step == 0)
    fail("range() arg 3 must not be zero");
  json out = json::array();
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (out.size() >= r.options().max_iterations)
      throw template_error(failure::limit,
                           fmt::format("range() longer than the iteration limit of {}",
                                       r.options().max_iterations));
    out.push_back(i);
    if ((step > 0 && i > std::numeric_limits<int64_t>::max() - step)
        || (step < 0 && i < std::numeric_limits<int64_t>::min() - step))
      break;
  }
  return value{std::move(out)};
}

value g_namespace(renderer&, call_args args) {
  auto ns = std::make_shared<namespace_object>();
  for (const auto& a : args.positional) {
    if (!a.is_mapping())
      fail("namespace() positional arguments must be mappings");
    for (const auto& [key, item] : a.data().items())
      ns->set(key, a.child(item));
  }
  for (auto& [name, v] : args.keyword)
    ns->set(name, std::move(v));
  return value{std::shared_ptr<object>(std::move(ns))};
}

value g_dict(renderer&, call_args args) {
  json out = json::object();
  for (const auto& a : args.positional) {
    if (!a.is_mapping())
      fail("dict() positional arguments must be mappings");
    for (const auto& [key, item] : a.data().items())
      out[key] = item;
  }
  for (const auto& [name, v] : args.keyword)
    out[name] = to_data(v);
  return value{std::move(out)};
}

value g_raise_exception(renderer&, call_args args) {
  arg_reader a{"raise_exception", std::move(args), {"message"}};
  throw template_error(failure::raised, to_str(a.get(0)));
}

value g_strftime_now(renderer& r, call_args args) {
  arg_reader a{"strftime_now", std::move(args), {"format"}};
  auto format = a.get_string(0, {});
  if (format.size() > 256)
    fail("strftime_now: format string too long");
  auto now = r.options().clock ? r.options().clock() : std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  if (format.empty())
    return value{json("")};
  std::string buffer(1024, '\0');
  auto n = std::strftime(buffer.data(), buffer.size(), format.c_str(), &tm);
  if (n == 0)
    fail("strftime_now: the formatted time is empty or too long");
  buffer.resize(n);
  return value{json(std::move(buffer))};
}

} // namespace

value builtin_global(std::string_view name) {
  static constexpr std::pair<std::string_view, global_fn> globals[] = {
    {"range", g_range},
    {"namespace", g_namespace},
    {"dict", g_dict},
    {"raise_exception", g_raise_exception},
    {"strftime_now", g_strftime_now},
  };
  for (const auto& [global_name, fn] : globals)
    if (global_name == name)
      return value{std::make_shared<builtin_function>(global_name, fn)};
  return value::undefined(fmt::format("'{}' is undefined", name));
}

} // namespace dynamo::jinja
