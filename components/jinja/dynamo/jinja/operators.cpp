// Arithmetic and concatenation with Python semantics (int/float promotion, floor division,
// sign of modulo, str/list repetition), overflow-checked and size-limited.
#include "dynamo/jinja/builtins.hpp"

#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/renderer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace dynamo::jinja {

namespace {

[[noreturn]] void unsupported(std::string_view op, const value& l, const value& r) {
  fail(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(l),
                   type_name(r)));
}

[[noreturn]] void overflow() {
  fail("integer overflow");
}

int64_t add(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out))
    overflow();
  return out;
}

int64_t sub(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_sub_overflow(a, b, &out))
    overflow();
  return out;
}

int64_t mul(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out))
    overflow();
  return out;
}

int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1)
      result = mul(result, base);
    exp >>= 1;
    if (exp > 0)
      base = mul(base, base);
  }
  return result;
}

value repeat(const renderer& r, const value& seq, int64_t times) {
  if (times <= 0)
    return value{seq.is_string() ? json("") : json::array()};
  auto n = static_cast<size_t>(times);
  if (seq.is_string()) {
    const auto& s = seq.str();
    if (!s.empty() && n > r.options().max_output_bytes / s.size())
      r.check_size(r.options().max_output_bytes + 1);
    std::string out;
    out.reserve(s.size() * n);
    for (size_t i = 0; i < n; ++i)
      out += s;
    return value{json(std::move(out))};
  }
  const auto& list = seq.data();
  if (!list.empty() && n > r.options().max_output_bytes / list.size())
    r.check_size(r.options().max_output_bytes + 1);
  json out = json::array();
  for (size_t i = 0; i < n; ++i)
    for (const auto& item : list)
      out.push_back(item);
  return value{std::move(out)};
}

} // namespace

value binary_operator(const renderer& r, std::string_view op, const value& left,
                      const value& right) {
  if (op == "~") {
    auto out = to_str(left);
    out += to_str(right);
    r.check_size(out.size());
    return value{json(std::move(out))};
  }
  if (left.is_undefined())
    fail(left.undefined_hint());
  if (right.is_undefined())
    fail(right.undefined_hint());
  auto li = as_int(left);
  auto ri = as_int(right);
  auto ld = as_double(left);
  auto rd = as_double(right);
  bool ints = li && ri;
  bool numbers = ld && rd;
  if (op == "+") {
    if (ints)
      return value{json(add(*li, *ri))};
    if (numbers)
      return value{json(*ld + *rd)};
    if (left.is_string() && right.is_string()) {
      r.check_size(left.str().size() + right.str().size());
      return value{json(left.str() + right.str())};
    }
    if (left.is_list() && right.is_list()) {
      json out = left.data();
      for (const auto& item : right.data())
        out.push_back(item);
      return value{std::move(out)};
    }
    unsupported(op, left, right);
  }
  if (op == "-") {
    if (ints)
      return value{json(sub(*li, *ri))};
    if (numbers)
      return value{json(*ld - *rd)};
    unsupported(op, left, right);
  }
  if (op == "*") {
    if (ints)
      return value{json(mul(*li, *ri))};
    if (numbers)
      return value{json(*ld * *rd)};
    if ((left.is_string() || left.is_list()) && ri)
      return repeat(r, left, *ri);
    if ((right.is_string() || right.is_list()) && li)
      return repeat(r, right, *li);
    unsupported(op, left, right);
  }
  if (op == "/") {
    if (!numbers)
      unsupported(op, left, right);
    if (*rd == 0)
      fail("division by zero");
    return value{json(*ld / *rd)};
  }
  if (op == "//" || op == "%") {
    if (op == "%" && left.is_string())
      fail("printf-style string formatting with '%' is not supported");
    if (!numbers)
      unsupported(op, left, right);
    if (*rd == 0)
      fail(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    if (ints) {
      if (*li == std::numeric_limits<int64_t>::min() && *ri == -1)
        overflow();
      int64_t q = *li / *ri;
      int64_t m = *li % *ri;
      if (m != 0 && ((m < 0) != (*ri < 0))) {
        --q;
        m += *ri;
      }
      return value{json(op == "//" ? q : m)};
    }
    if (op == "//")
      return value{json(std::floor(*ld / *rd))};
    double m = std::fmod(*ld, *rd);
    if (m != 0 && ((m < 0) != (*rd < 0)))
      m += *rd;
    return value{json(m)};
  }
  if (op == "**") {
    if (ints && *ri >= 0)
      return value{json(int_pow(*li, *ri))};
    if (numbers)
      return value{json(std::pow(*ld, *rd))};
    unsupported(op, left, right);
  }
  fail(fmt::format("unknown operator '{}'", op));
}

value unary_operator(std::string_view op, const value& operand) {
  if (operand.is_undefined())
    fail(operand.undefined_hint());
  if (auto i = as_int(operand)) {
    if (op == "+")
      return value{json(*i)};
    if (*i == std::numeric_limits<int64_t>::min())
      overflow();
    return value{json(-*i)};
  }
  if (auto d = as_double(operand))
    return value{json(op == "+" ? *d : -*d)};
  fail(fmt::format("bad operand type for unary {}: '{}'", op, type_name(operand)));
}

} // namespace dynamo::jinja
