#include "dynamo/config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

namespace dynamo {

namespace detail {

struct option_input {
  /// Command-line or environment text; used when `json` is null.
  std::string_view text;
  /// A value from the config file.
  const nlohmann::json* json = nullptr;
};

namespace {

caf::error bad(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

std::string quoted(std::string_view text) {
  return fmt::format("'{}'", text);
}

/// Renders a JSON value for error messages, shortened so that a huge value stays readable.
std::string excerpt(const nlohmann::json& j) {
  auto text = j.dump();
  if (text.size() > 64)
    text = text.substr(0, 61) + "...";
  return text;
}

std::string got(const option_input& in) {
  return in.json != nullptr ? excerpt(*in.json) : quoted(in.text);
}

template <class Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value{};
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end)
    return std::nullopt;
  return value;
}

template <class Int>
caf::error assign_int(Int& field, const option_input& in) {
  using wide = std::conditional_t<std::is_signed_v<Int>, int64_t, uint64_t>;
  constexpr auto lo = std::numeric_limits<Int>::min();
  constexpr auto hi = std::numeric_limits<Int>::max();
  std::optional<wide> v;
  if (in.json == nullptr) {
    v = parse_int<wide>(in.text);
  } else if (in.json->is_number_unsigned()) {
    auto u = in.json->get<uint64_t>();
    if (u <= static_cast<uint64_t>(hi))
      v = static_cast<wide>(u);
  } else if (in.json->is_number_integer()) {
    auto i = in.json->get<int64_t>();
    if (std::is_signed_v<Int> || i >= 0)
      v = static_cast<wide>(i);
  }
  if (!v || *v < static_cast<wide>(lo) || *v > static_cast<wide>(hi))
    return bad(fmt::format("expected an integer in [{}, {}], got {}", std::to_string(lo),
                           std::to_string(hi), got(in)));
  field = static_cast<Int>(*v);
  return {};
}

template <class Float>
caf::error assign_float(Float& field, const option_input& in, std::string_view type) {
  auto fail = [&in, type] {
    return bad(fmt::format("expected a finite {} number, got {}", type, got(in)));
  };
  double v = 0;
  if (in.json != nullptr) {
    if (!in.json->is_number())
      return fail();
    v = in.json->get<double>();
  } else {
    const auto* end = in.text.data() + in.text.size();
    auto [ptr, ec] = std::from_chars(in.text.data(), end, v);
    if (in.text.empty() || ec != std::errc{} || ptr != end)
      return fail();
  }
  if (!std::isfinite(v) || std::fabs(v) > static_cast<double>(std::numeric_limits<Float>::max()))
    return fail();
  field = static_cast<Float>(v);
  return {};
}

std::string lower(std::string_view text) {
  std::string result{text};
  std::transform(result.begin(), result.end(), result.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return result;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view blanks = " \t\r\n";
  auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return {};
  auto last = text.find_last_not_of(blanks);
  return text.substr(first, last - first + 1);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto digits_end = text.find_first_not_of("0123456789");
  auto number = parse_int<uint64_t>(text.substr(0, digits_end));
  if (!number)
    return std::nullopt;
  auto unit = digits_end == std::string_view::npos ? std::string_view{} : text.substr(digits_end);
  uint64_t scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60 * 1000;
  else if (unit == "h")
    scale = 60 * 60 * 1000;
  else
    return std::nullopt;
  constexpr auto max_ms = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (*number > max_ms / scale)
    return std::nullopt;
  return std::chrono::milliseconds{static_cast<int64_t>(*number * scale)};
}

} // namespace

caf::error assign(bool& field, const option_input& in) {
  if (in.json != nullptr) {
    if (!in.json->is_boolean())
      return bad(fmt::format("expected true or false, got {}", got(in)));
    field = in.json->get<bool>();
    return {};
  }
  auto text = lower(in.text);
  if (text == "1" || text == "true" || text == "yes" || text == "on") {
    field = true;
    return {};
  }
  if (text == "0" || text == "false" || text == "no" || text == "off") {
    field = false;
    return {};
  }
  return bad(fmt::format("expected one of 1/0/true/false/yes/no/on/off, got {}", got(in)));
}

caf::error assign(int32_t& field, const option_input& in) { return assign_int(field, in); }
caf::error assign(int64_t& field, const option_input& in) { return assign_int(field, in); }
caf::error assign(uint16_t& field, const option_input& in) { return assign_int(field, in); }
caf::error assign(uint32_t& field, const option_input& in) { return assign_int(field, in); }
caf::error assign(uint64_t& field, const option_input& in) { return assign_int(field, in); }

caf::error assign(double& field, const option_input& in) {
  return assign_float(field, in, "double");
}

caf::error assign(float& field, const option_input& in) { return assign_float(field, in, "float"); }

caf::error assign(std::string& field, const option_input& in) {
  if (in.json != nullptr) {
    if (!in.json->is_string())
      return bad(fmt::format("expected a string, got {}", got(in)));
    field = in.json->get<std::string>();
    return {};
  }
  field = std::string{in.text};
  return {};
}

caf::error assign(std::vector<std::string>& field, const option_input& in) {
  std::vector<std::string> result;
  if (in.json != nullptr) {
    if (!in.json->is_array())
      return bad(fmt::format("expected an array of strings, got {}", got(in)));
    for (const auto& item : *in.json) {
      if (!item.is_string())
        return bad(fmt::format("expected an array of strings, got item {}", excerpt(item)));
      result.push_back(item.get<std::string>());
    }
    field = std::move(result);
    return {};
  }
  if (!trim(in.text).empty()) {
    std::string_view rest = in.text;
    while (true) {
      auto comma = rest.find(',');
      auto item = trim(rest.substr(0, comma));
      if (item.empty())
        return bad(fmt::format("empty item in comma-separated list {}", got(in)));
      result.emplace_back(item);
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
  }
  field = std::move(result);
  return {};
}

caf::error assign(std::chrono::milliseconds& field, const option_input& in) {
  constexpr auto max_ms = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  std::optional<std::chrono::milliseconds> v;
  if (in.json == nullptr)
    v = parse_duration(in.text);
  else if (in.json->is_number_unsigned() && in.json->get<uint64_t>() <= max_ms)
    v = std::chrono::milliseconds{in.json->get<int64_t>()};
  else if (in.json->is_string())
    v = parse_duration(in.json->get_ref<const std::string&>());
  if (!v)
    return bad(fmt::format("expected a duration such as 250ms, 2s, 1m, 1h or a non-negative "
                           "number of milliseconds, got {}",
                           got(in)));
  field = *v;
  return {};
}

std::string format(bool x) { return x ? "true" : "false"; }
std::string format(int32_t x) { return std::to_string(x); }
std::string format(int64_t x) { return std::to_string(x); }
std::string format(uint16_t x) { return std::to_string(x); }
std::string format(uint32_t x) { return std::to_string(x); }
std::string format(uint64_t x) { return std::to_string(x); }
std::string format(double x) { return fmt::format("{}", x); }
std::string format(float x) { return fmt::format("{}", x); }
std::string format(const std::string& x) { return x; }

std::string format(const std::vector<std::string>& x) {
  return fmt::format("{}", fmt::join(x, ","));
}

std::string format(std::chrono::milliseconds x) {
  auto ms = x.count();
  if (ms != 0) {
    if (ms % (60 * 60 * 1000) == 0)
      return fmt::format("{}h", ms / (60 * 60 * 1000));
    if (ms % (60 * 1000) == 0)
      return fmt::format("{}m", ms / (60 * 1000));
    if (ms % 1000 == 0)
      return fmt::format("{}s", ms / 1000);
  }
  return fmt::format("{}ms", ms);
}

} // namespace detail

// -- option_set -----------------------------------------------------------------------------

struct option_set::option {
  std::string key;
  std::string help;
  std::string env;
  std::vector<std::string> aliases;
  std::string default_text;
  detail::option_binding binding;
};

struct option_set::cli_value {
  option* opt;
  std::string flag; // as the user wrote it, for error messages
  std::string value;
  bool via_alias = false; // applied before the values given by full key
};

namespace {

constexpr size_t max_config_file_size = 8 * 1024 * 1024;

bool is_valid_segment(std::string_view segment) {
  if (segment.empty() || segment.front() == '-')
    return false;
  return std::all_of(segment.begin(), segment.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
           || c == '-';
  });
}

bool is_valid_key(std::string_view key) {
  while (true) {
    auto dot = key.find('.');
    if (!is_valid_segment(key.substr(0, dot)))
      return false;
    if (dot == std::string_view::npos)
      return true;
    key.remove_prefix(dot + 1);
  }
}

bool is_reserved(std::string_view flag) {
  return flag == "help" || flag == "h" || flag == "config";
}

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

/// Reads at most max_config_file_size bytes; nullopt when the file cannot be read or is larger.
std::optional<std::string> read_small_file(const std::string& path, std::string& why) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    why = "it is a directory";
    return std::nullopt;
  }
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    why = "cannot open it";
    return std::nullopt;
  }
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > max_config_file_size) {
      why = fmt::format("it is larger than {} bytes", max_config_file_size);
      return std::nullopt;
    }
  }
  if (in.bad()) {
    why = "cannot read it";
    return std::nullopt;
  }
  return text;
}

} // namespace

option_set::option_set(std::string program_description)
  : description_(std::move(program_description)) {
  // nop
}

option_set::~option_set() = default;

option_set& option_set::add_binding(std::string key, std::string help, std::string env,
                                    detail::option_binding binding) {
  if (!is_valid_key(key))
    on_internal_error(fmt::format("option_set: invalid option key '{}'", key));
  if (is_reserved(key))
    on_internal_error(fmt::format("option_set: option key '{}' is reserved", key));
  if (by_key_.contains(key) || by_alias_.contains(key))
    on_internal_error(fmt::format("option_set: option key '{}' is bound twice", key));
  auto opt = std::make_unique<option>();
  opt->key = std::move(key);
  opt->help = std::move(help);
  opt->env = std::move(env);
  opt->default_text = binding.format();
  opt->binding = std::move(binding);
  by_key_.emplace(opt->key, opt.get());
  options_.push_back(std::move(opt));
  return *this;
}

option_set& option_set::alias(std::string flag, std::string key) {
  auto i = by_key_.find(key);
  if (i == by_key_.end())
    on_internal_error(fmt::format("option_set: alias '{}' names unknown key '{}'", flag, key));
  if (!is_valid_key(flag) || is_reserved(flag) || by_key_.contains(flag)
      || by_alias_.contains(flag))
    on_internal_error(fmt::format("option_set: alias '{}' is invalid or already taken", flag));
  i->second->aliases.push_back(flag);
  by_alias_.emplace(std::move(flag), alias_entry{{i->second}, false});
  return *this;
}

option_set& option_set::shared_alias(std::string flag, std::string key) {
  auto i = by_key_.find(key);
  if (i == by_key_.end())
    on_internal_error(
      fmt::format("option_set: shared alias '{}' names unknown key '{}'", flag, key));
  if (!is_valid_key(flag) || is_reserved(flag) || by_key_.contains(flag))
    on_internal_error(fmt::format("option_set: alias '{}' is invalid or already taken", flag));
  auto entry = by_alias_.try_emplace(flag, alias_entry{{}, true}).first;
  auto& targets = entry->second.targets;
  if (!entry->second.shared)
    on_internal_error(fmt::format("option_set: alias '{}' is invalid or already taken", flag));
  if (!targets.empty() && targets.front()->binding.type != i->second->binding.type)
    on_internal_error(fmt::format("option_set: shared alias '{}' joins keys of different types "
                                  "('{}' is {}, '{}' is {})",
                                  flag, targets.front()->key, targets.front()->binding.type, key,
                                  i->second->binding.type));
  if (std::find(targets.begin(), targets.end(), i->second) != targets.end())
    on_internal_error(fmt::format("option_set: key '{}' joins shared alias '{}' twice", key, flag));
  targets.push_back(i->second);
  i->second->aliases.push_back(std::move(flag));
  return *this;
}

bool option_set::taken(std::string_view flag) const {
  return by_key_.contains(flag) || by_alias_.contains(flag);
}

bool option_set::is_shared_alias(std::string_view flag) const {
  auto i = by_alias_.find(flag);
  return i != by_alias_.end() && i->second.shared;
}

std::vector<option_set::option*> option_set::find_flag(std::string_view flag) {
  if (auto i = by_key_.find(flag); i != by_key_.end())
    return {i->second};
  if (auto i = by_alias_.find(flag); i != by_alias_.end())
    return i->second.targets;
  return {};
}

caf::error option_set::scan_command_line(int argc, const char* const* argv,
                                         std::vector<cli_value>& out, std::string& config_path) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == nullptr)
      return invalid(fmt::format("command-line argument {} is null", i));
    std::string_view arg = argv[i];
    if (options_done || arg == "-" || !arg.starts_with('-')) {
      positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (!arg.starts_with("--"))
      return invalid(fmt::format("unknown option {} (options are written --name)", arg));
    auto body = arg.substr(2);
    auto eq = body.find('=');
    auto name = body.substr(0, eq);
    std::optional<std::string_view> inline_value;
    if (eq != std::string_view::npos)
      inline_value = body.substr(eq + 1);
    auto next_value = [&]() -> std::optional<std::string_view> {
      if (inline_value)
        return inline_value;
      if (i + 1 < argc && argv[i + 1] != nullptr
          && !std::string_view{argv[i + 1]}.starts_with("--"))
        return std::string_view{argv[++i]};
      return std::nullopt;
    };
    if (name == "config") {
      auto value = next_value();
      if (!value || value->empty())
        return invalid("missing value for --config (expected a file name)");
      config_path = std::string{*value};
      continue;
    }
    // Every target of a (shared) alias has the same type, so the first one decides the form.
    auto targets = find_flag(name);
    bool via_alias = by_alias_.contains(name);
    if (targets.empty() && name.starts_with("no-") && !inline_value) {
      auto positive = name.substr(3);
      auto negated = find_flag(positive);
      if (!negated.empty() && negated.front()->binding.is_flag) {
        for (auto* opt : negated)
          out.push_back(cli_value{opt, std::string{arg}, "false", by_alias_.contains(positive)});
        continue;
      }
    }
    if (targets.empty())
      return invalid(fmt::format("unknown option --{} (see --help)", name));
    std::string value;
    if (targets.front()->binding.is_flag) {
      value = std::string{inline_value.value_or("true")};
    } else {
      auto given = next_value();
      if (!given)
        return invalid(fmt::format("missing value for --{} (expected {})", name,
                                   targets.front()->binding.type));
      value = std::string{*given};
    }
    for (auto* opt : targets)
      out.push_back(cli_value{opt, fmt::format("--{}", name), value, via_alias});
  }
  return {};
}

caf::error option_set::apply_file(const std::string& path) {
  std::string why;
  auto text = read_small_file(path, why);
  if (!text)
    return invalid(fmt::format("cannot read config file '{}': {}", path, why));
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(*text, nullptr, true, true);
  } catch (const nlohmann::json::exception& e) {
    return invalid(fmt::format("malformed config file '{}': {}", path, e.what()));
  }
  if (!root.is_object())
    return invalid(fmt::format("malformed config file '{}': the top level must be an object",
                               path));
  // Depth-first walk; nested objects extend the dotted key.
  std::set<std::string, std::less<>> seen;
  std::vector<std::pair<std::string, const nlohmann::json*>> todo{{std::string{}, &root}};
  while (!todo.empty()) {
    auto [prefix, node] = std::move(todo.back());
    todo.pop_back();
    for (auto it = node->begin(); it != node->end(); ++it) {
      auto key = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (it->is_object()) {
        todo.emplace_back(std::move(key), &*it);
        continue;
      }
      auto found = by_key_.find(key);
      if (found == by_key_.end())
        return invalid(fmt::format("unknown key '{}' in config file '{}'", key, path));
      if (!seen.insert(key).second)
        return invalid(fmt::format("key '{}' is set twice in config file '{}'", key, path));
      detail::option_input in{{}, &*it};
      if (auto err = found->second->binding.assign(in))
        return invalid(fmt::format("invalid value for '{}' in config file '{}': {}", key, path,
                                   client_message(err)));
    }
  }
  return {};
}

caf::error option_set::parse(int argc, const char* const* argv,
                             const std::map<std::string, std::string>& env) {
  help_requested_ = false;
  positional_.clear();
  if (argv == nullptr)
    argc = 0;
  for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--")
      break;
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return {};
    }
  }
  std::vector<cli_value> cli;
  std::string config_path;
  if (auto err = scan_command_line(argc, argv, cli, config_path)) {
    positional_.clear();
    return err;
  }
  std::vector<std::function<void()>> restore;
  restore.reserve(options_.size());
  for (const auto& opt : options_)
    restore.push_back(opt->binding.snapshot());
  auto rollback = [this, &restore](caf::error err) {
    for (auto& f : restore)
      f();
    positional_.clear();
    return err;
  };
  if (config_path.empty())
    if (auto i = env.find(std::string{config_env}); i != env.end())
      config_path = i->second;
  if (!config_path.empty())
    if (auto err = apply_file(config_path))
      return rollback(std::move(err));
  for (const auto& opt : options_) {
    if (opt->env.empty())
      continue;
    auto i = env.find(opt->env);
    if (i == env.end() || i->second.empty())
      continue;
    detail::option_input in{i->second, nullptr};
    if (auto err = opt->binding.assign(in))
      return rollback(invalid(fmt::format("invalid value in environment variable {} for {}: {}",
                                          opt->env, opt->key, client_message(err))));
  }
  // A full key beats a short alias whatever their order: --engine a --decode.engine b.
  std::stable_partition(cli.begin(), cli.end(), [](const cli_value& v) { return v.via_alias; });
  for (const auto& v : cli) {
    detail::option_input in{v.value, nullptr};
    if (auto err = v.opt->binding.assign(in))
      return rollback(
        invalid(fmt::format("invalid value for {}: {}", v.flag, client_message(err))));
  }
  return {};
}

bool option_set::help_requested() const {
  return help_requested_;
}

std::vector<std::string> option_set::positional() const {
  return positional_;
}

std::string option_set::help() const {
  // An option's group is its first key segment; keys without a dot join "general".
  auto group_of = [](const std::string& key) {
    auto dot = key.find('.');
    return dot == std::string::npos ? std::string{} : key.substr(0, dot);
  };
  auto render = [](const option& opt) {
    const auto& b = opt.binding;
    auto text = b.is_flag ? fmt::format("  --{}[=<bool>]", opt.key)
                          : fmt::format("  --{} <{}>", opt.key, b.type);
    for (const auto& a : opt.aliases)
      text += fmt::format(", --{}", a);
    text += '\n';
    if (!opt.help.empty())
      text += fmt::format("      {}\n", opt.help);
    auto shown = opt.default_text;
    if (b.type == "string")
      shown = fmt::format("\"{}\"", shown);
    else if (b.type == "list" && shown.empty())
      shown = "(empty)";
    text += fmt::format("      default: {}", shown);
    if (!opt.env.empty())
      text += fmt::format("; env: {}", opt.env);
    text += '\n';
    return text;
  };
  std::string out = description_;
  out += "\n\nUsage: [options] [--] [arguments]\n"
         "Precedence: defaults < config file < environment < command line; on the command\n"
         "line a full key beats a short alias (--engine a --decode.engine b).\n"
         "\ngeneral:\n"
         "  -h, --help\n"
         "      Show this help and exit.\n"
         "  --config <file>\n"
         "      JSON config file; nested objects map to dotted keys "
         "({\"http\":{\"port\":8080}} sets http.port).\n";
  out += fmt::format("      env: {}\n", config_env);
  std::vector<std::string> groups; // in order of first appearance
  for (const auto& opt : options_) {
    auto group = group_of(opt->key);
    if (group.empty())
      out += render(*opt);
    else if (std::find(groups.begin(), groups.end(), group) == groups.end())
      groups.push_back(std::move(group));
  }
  for (const auto& group : groups) {
    out += fmt::format("\n{}:\n", group);
    for (const auto& opt : options_)
      if (group_of(opt->key) == group)
        out += render(*opt);
  }
  return out;
}

std::map<std::string, std::string> environment_from(const char* const* envp) {
  std::map<std::string, std::string> result;
  if (envp == nullptr)
    return result;
  for (; *envp != nullptr; ++envp) {
    std::string_view entry = *envp;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0)
      continue;
    result.emplace(std::string{entry.substr(0, eq)}, std::string{entry.substr(eq + 1)});
  }
  return result;
}

} // namespace dynamo
