// Strict parsing of numbers given as text (command-line values, file fields): the whole text
// must be the number. Shared by every tool and component that reads numbers from users.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <system_error>

namespace dynamo {

/// All of `text` as a decimal integer of type Int; nullopt for empty text, trailing junk or a
/// value out of Int's range. Any thread.
template <class Int>
std::optional<Int> parse_integer(std::string_view text) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

/// All of `text` as a finite floating-point number of type Float; nullopt for empty text,
/// trailing junk, overflow, infinities and NaN. Any thread.
template <class Float>
std::optional<Float> parse_finite(std::string_view text) {
  Float value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()
      || !std::isfinite(value))
    return std::nullopt;
  return value;
}

} // namespace dynamo
