// Typed options from defaults < JSON config file < environment < command line, plus --help.
// Fields are bound by reference; parse() writes them. See docs/design/config.md.
#pragma once

#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace dynamo {

namespace detail {

/// One value to assign: text from the command line or environment, or a JSON value from the
/// config file. Defined in config.cpp.
struct option_input;

/// Parses `in` into `field`; leaves `field` unchanged and returns invalid_request on bad input.
caf::error assign(bool& field, const option_input& in);
/// Same as the bool overload, for 32-bit signed integers (range-checked).
caf::error assign(int32_t& field, const option_input& in);
/// Same as the bool overload, for 64-bit signed integers.
caf::error assign(int64_t& field, const option_input& in);
/// Same as the bool overload, for 16-bit unsigned integers (range-checked).
caf::error assign(uint16_t& field, const option_input& in);
/// Same as the bool overload, for 32-bit unsigned integers (range-checked).
caf::error assign(uint32_t& field, const option_input& in);
/// Same as the bool overload, for 64-bit unsigned integers (also size_t).
caf::error assign(uint64_t& field, const option_input& in);
/// Same as the bool overload, for finite doubles.
caf::error assign(double& field, const option_input& in);
/// Same as the bool overload, for finite floats (range-checked).
caf::error assign(float& field, const option_input& in);
/// Same as the bool overload, for strings.
caf::error assign(std::string& field, const option_input& in);
/// Same as the bool overload, for lists (comma-separated text or a JSON array of strings).
caf::error assign(std::vector<std::string>& field, const option_input& in);
/// Same as the bool overload, for non-negative durations ("250ms", "2s", "1m", "1h", or ms).
caf::error assign(std::chrono::milliseconds& field, const option_input& in);

/// Renders a value the way it would be written on the command line.
std::string format(bool x);
/// Renders an integer in decimal.
std::string format(int32_t x);
/// Renders an integer in decimal.
std::string format(int64_t x);
/// Renders an integer in decimal.
std::string format(uint16_t x);
/// Renders an integer in decimal.
std::string format(uint32_t x);
/// Renders an integer in decimal.
std::string format(uint64_t x);
/// Renders the shortest text that reads back as `x`.
std::string format(double x);
/// Renders the shortest text that reads back as `x`.
std::string format(float x);
/// Returns `x` unchanged.
std::string format(const std::string& x);
/// Joins the items with commas.
std::string format(const std::vector<std::string>& x);
/// Renders in the largest unit that is exact: "1h", "2m", "3s", "250ms".
std::string format(std::chrono::milliseconds x);

/// The type names shown by --help ("bool", "uint16", "duration", ...).
template <class T>
constexpr std::string_view option_type_name() noexcept {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, int32_t>)
    return "int32";
  else if constexpr (std::is_same_v<T, int64_t>)
    return "int64";
  else if constexpr (std::is_same_v<T, uint16_t>)
    return "uint16";
  else if constexpr (std::is_same_v<T, uint32_t>)
    return "uint32";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "uint64";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, float>)
    return "float";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else if constexpr (std::is_same_v<T, std::vector<std::string>>)
    return "list";
  else if constexpr (std::is_same_v<T, std::chrono::milliseconds>)
    return "duration";
  else
    return {};
}

/// The type-erased view of one bound field.
struct option_binding {
  std::string_view type;
  bool is_flag = false;
  std::function<caf::error(const option_input&)> assign;
  std::function<std::string()> format;
  /// Captures the field's current value; calling the result writes it back.
  std::function<std::function<void()>()> snapshot;
};

} // namespace detail

static_assert(std::is_same_v<size_t, uint64_t>, "option_set assumes an LP64 platform");

/// Declares typed options and fills them from defaults < JSON config file < environment <
/// command line (where a full key beats a short alias, whatever their order). Not thread-safe:
/// build and parse on one thread (typically main), before the bound fields are shared. Bound
/// fields must outlive the option_set.
class option_set {
public:
  /// `program_description` opens the --help text.
  explicit option_set(std::string program_description);
  ~option_set();
  option_set(const option_set&) = delete;
  option_set& operator=(const option_set&) = delete;

  /// Binds a typed field. key is dotted ("http.port"); env is the variable name or "" for none.
  /// The field's current value is the default shown by help(). An invalid key (segments of
  /// [A-Za-z0-9_-], not starting with '-'), a duplicate or reserved key ("help", "config")
  /// -> on_internal_error.
  template <class T>
  option_set& add(T& field, std::string key, std::string help, std::string env = {}) {
    static_assert(!detail::option_type_name<T>().empty(),
                  "unsupported option type: use bool, int32_t, int64_t, uint16_t, uint32_t, "
                  "uint64_t/size_t, double, float, std::string, std::vector<std::string> or "
                  "std::chrono::milliseconds");
    detail::option_binding b;
    b.type = detail::option_type_name<T>();
    b.is_flag = std::is_same_v<T, bool>;
    b.assign = [ptr = &field](const detail::option_input& in) { return detail::assign(*ptr, in); };
    b.format = [ptr = &field] { return detail::format(*ptr); };
    b.snapshot = [ptr = &field] {
      return std::function<void()>{[ptr, saved = *ptr] { *ptr = saved; }};
    };
    return add_binding(std::move(key), std::move(help), std::move(env), std::move(b));
  }

  /// Adds a short alias flag, e.g. alias("port", "http.port") lets users write --port 8080.
  /// An unknown key, or a flag that is invalid or already taken -> on_internal_error.
  option_set& alias(std::string flag, std::string key);

  /// Adds `key` to the keys a shared alias sets: --flag v then sets all of them, e.g. --engine
  /// for every worker component of a graph. A flag that is a key or an exclusive alias, an
  /// unknown key, or a key whose type differs from the alias's first -> on_internal_error.
  option_set& shared_alias(std::string flag, std::string key);

  /// True if `flag` is already a key or an alias (a component offering a short alias that
  /// several components could want checks this first: the first one bound gets it).
  bool taken(std::string_view flag) const;

  /// True if `flag` is a shared alias (one more key may join it with shared_alias()).
  bool is_shared_alias(std::string_view flag) const;

  /// Parses; `env` is the process environment as given to main (no getenv in this library).
  /// Errors: invalid_request with a message naming the option (unknown flag, bad value, missing
  /// value, unreadable/malformed config file, unknown key in the file). On error every bound
  /// field keeps the value it had before the call. With --help/-h nothing is assigned and
  /// help_requested() turns true. May be called again; each call starts from the fields'
  /// current values.
  caf::error parse(int argc, const char* const* argv,
                   const std::map<std::string, std::string>& env);

  /// Whether the last parse() saw --help or -h.
  bool help_requested() const;

  /// The help text: description, then options grouped by first key segment, each with its
  /// type, default (value at add() time), env variable and aliases.
  std::string help() const;

  /// Non-option arguments of the last parse(), in order (everything after "--" included).
  std::vector<std::string> positional() const;

  /// The environment variable naming the config file when --config is absent.
  static constexpr std::string_view config_env = "DYN_CONFIG";

private:
  struct option;
  struct cli_value;
  /// What an alias flag sets: one key, or (shared) every key given for it.
  struct alias_entry {
    std::vector<option*> targets;
    bool shared = false;
  };

  option_set& add_binding(std::string key, std::string help, std::string env,
                          detail::option_binding binding);
  std::vector<option*> find_flag(std::string_view flag);
  caf::error scan_command_line(int argc, const char* const* argv, std::vector<cli_value>& out,
                               std::string& config_path);
  caf::error apply_file(const std::string& path);

  std::string description_;
  std::vector<std::unique_ptr<option>> options_;
  std::map<std::string, option*, std::less<>> by_key_;
  std::map<std::string, alias_entry, std::less<>> by_alias_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

/// Copies a NULL-terminated `envp` (as given to main) into a map; the first of duplicate names
/// wins, entries without '=' are skipped, a null `envp` gives an empty map.
std::map<std::string, std::string> environment_from(const char* const* envp);

} // namespace dynamo
