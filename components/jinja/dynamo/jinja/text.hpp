// Python-compatible text primitives: code-point aware string operations (str.strip, split,
// upper, title, slicing), and Python's formatting of floats, reprs and json.dumps. Templates
// are written against Python semantics, so byte-identical output depends on these.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::jinja {

/// The JSON type of template data; ordered so that dicts keep insertion order as in Python.
using json = nlohmann::ordered_json;

/// Decodes UTF-8 into code points; ill-formed bytes become U+FFFD. Any thread.
std::u32string decode_utf8(std::string_view text);

/// Encodes code points as UTF-8. Any thread.
std::string encode_utf8(std::u32string_view text);

/// Appends the UTF-8 encoding of `cp` to `out`. Any thread.
void append_utf8(std::string& out, char32_t cp);

/// Number of code points (Python's len of a str). Any thread.
size_t code_point_count(std::string_view text) noexcept;

/// Python's str.isspace for one code point. Any thread.
bool is_py_space(char32_t cp) noexcept;

/// Python's str.upper / str.lower (simple case mapping). Any thread.
std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);

/// Python's str.title: title-cases the first cased character after an uncased one.
std::string py_title(std::string_view text);

/// Python's str.capitalize: first character title-cased, the rest lower-cased.
std::string py_capitalize(std::string_view text);

/// Which ends str.strip works on.
enum class strip_side : uint8_t { both, left, right };

/// Python's str.strip/lstrip/rstrip; `chars` nullopt strips whitespace. Any thread.
std::string py_strip(std::string_view text, const std::optional<std::string>& chars,
                     strip_side side);

/// Python's str.split(sep, maxsplit); sep nullopt splits on whitespace runs. Throws a
/// template_error for an empty separator. Any thread.
std::vector<std::string> py_split(std::string_view text, const std::optional<std::string>& sep,
                                  int64_t maxsplit);

/// Python's str.replace(old, new, count); count < 0 replaces all. Throws a template_error
/// (limit) when the result would exceed `max_bytes`.
std::string py_replace(std::string_view text, std::string_view old_text, std::string_view new_text,
                       int64_t count, size_t max_bytes);

/// Python's repr() of a float ("1.0", "1e-05", "inf", "nan"). Any thread.
std::string py_float_repr(double x);

/// Python's repr() of a str (quotes chosen as Python does). Any thread.
std::string py_string_repr(std::string_view text);

/// Python's str() of JSON data: None/True/False, float repr, list/dict reprs. Any thread.
std::string py_str(const json& data);

/// Python's repr() of JSON data (strings quoted). Any thread.
std::string py_repr(const json& data);

/// Options of json.dumps as Hugging Face's tojson filter passes them.
struct dumps_options {
  std::optional<std::string> indent;  ///< nullopt: single line; else the per-level indent.
  std::string item_separator = ", ";  ///< Between items (", " or "," with indent).
  std::string key_separator = ": ";   ///< Between key and value.
  bool ensure_ascii = false;          ///< Escape non-ASCII as \uXXXX.
  bool sort_keys = false;             ///< Sort object keys.
};

/// Python's json.dumps(data, ...) byte for byte. Throws a template_error (limit) beyond
/// `max_bytes`. Any thread.
std::string py_json_dumps(const json& data, const dumps_options& options, size_t max_bytes);

} // namespace dynamo::jinja
