#include "dynamo/workload/workload_flags.hpp"

#include "dynamo/error.hpp"
#include "dynamo/parse_number.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>

namespace dynamo::workload {

namespace {

/// Where a flag applies.
enum class scope : uint8_t {
  source,     ///< --preset / --trace themselves.
  generator,  ///< Preset only.
  count,      ///< --requests: preset; trace too when the tool replays.
  replay,     ///< Trace only; offered when the tool replays.
  layout,     ///< Both sources (--block-size).
  prompt,     ///< Both sources; offered when the tool builds prompts.
};

/// Applies a flag's value to the source; the client message when the value is bad.
using apply_fn = std::optional<std::string> (*)(workload_source&, std::string_view flag,
                                                std::string_view value);

struct flag_spec {
  std::string_view name;
  std::string_view metavar;      ///< Empty for a flag without a value.
  scope where;
  std::string_view help;         ///< Lines separated by '\n'.
  std::string_view replay_help;  ///< Appended when the tool replays traces.
  apply_fn apply;
};

constexpr uint32_t u32_max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t u64_max = std::numeric_limits<uint64_t>::max();
constexpr uint32_t max_block_size = 1u << 20;
constexpr uint32_t max_prefix_groups = 1'000'000;
constexpr double max_zipf_s = 100.0;

/// Column at which the help text of a flag starts (as in the tools' own help).
constexpr size_t help_column = 25;

std::string expects(std::string_view flag, std::string_view wanted, std::string_view value) {
  return fmt::format("{} expects {}, got '{}'", flag, wanted, value);
}

template <class Int>
std::optional<std::string> set_int(Int& target, std::string_view flag, std::string_view value,
                                   Int lo, Int hi) {
  auto x = parse_integer<Int>(value);
  if (!x || *x < lo || *x > hi)
    return expects(flag, fmt::format("an integer in [{}, {}]", lo, hi), value);
  target = *x;
  return std::nullopt;
}

std::optional<std::string> set_positive(double& target, std::string_view flag,
                                        std::string_view value) {
  auto x = parse_finite<double>(value);
  if (!x || *x <= 0.0)
    return expects(flag, "a number > 0", value);
  target = *x;
  return std::nullopt;
}

std::optional<std::string> set_non_negative(double& target, std::string_view flag,
                                            std::string_view value) {
  auto x = parse_finite<double>(value);
  if (!x || *x < 0.0)
    return expects(flag, "a number >= 0", value);
  target = *x;
  return std::nullopt;
}

std::optional<std::string> set_in(double& target, std::string_view flag, std::string_view value,
                                  double lo, double hi) {
  auto x = parse_finite<double>(value);
  if (!x || *x < lo || *x > hi)
    return expects(flag, fmt::format("a number in [{}, {}]", lo, hi), value);
  target = *x;
  return std::nullopt;
}

std::optional<std::string> set_distribution(distribution& target, std::string_view flag,
                                            std::string_view value) {
  auto d = parse_distribution(value);
  if (!d)
    return fmt::format("{}: {}", flag, client_message(d.error()));
  target = *d;
  return std::nullopt;
}

constexpr flag_spec flag_table[] = {
  {"--preset", "NAME", scope::source,
   "generate a workload: shared-prefix, multi-turn or mixed (below)", {},
   [](workload_source& s, std::string_view, std::string_view v) -> std::optional<std::string> {
     s.preset = std::string{v};  // applied before the knobs; checked there
     return std::nullopt;
   }},
  {"--trace", "FILE", scope::source,
   "a Mooncake JSONL trace (timestamp, input_length, output_length,\n"
   "hash_ids; optional session_id, turn, delay_ms)", {},
   [](workload_source& s, std::string_view flag, std::string_view v)
     -> std::optional<std::string> {
     if (v.empty())
       return expects(flag, "a file name", v);
     s.trace = std::string{v};
     return std::nullopt;
   }},
  {"--seed", "S", scope::generator,
   "random seed (default 1): the same seed gives the same workload", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_int<uint64_t>(s.generator.seed, flag, v, 0, u64_max);
   }},
  {"--requests", "N", scope::count,
   "requests to generate, every turn counted (0 = bounded by\n--duration-s)",
   "with --trace: replay the first N requests (default 0 = all)",
   [](workload_source& s, std::string_view flag, std::string_view v) {
     auto err = set_int<uint64_t>(s.generator.requests, flag, v, 0, u64_max);
     s.replay.max_requests = s.generator.requests;
     return err;
   }},
  {"--duration-s", "T", scope::generator,
   "no conversation starts at or after T s (0 = no bound); without\n"
   "--requests it replaces the preset's request count", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_non_negative(s.generator.duration_s, flag, v);
   }},
  {"--name", "NAME", scope::generator,
   "workload name in reports (default: the preset's name)", {},
   [](workload_source& s, std::string_view flag, std::string_view v)
     -> std::optional<std::string> {
     if (v.empty())
       return expects(flag, "a non-empty name", v);
     s.generator.name = std::string{v};
     return std::nullopt;
   }},
  {"--arrival", "KIND", scope::generator,
   "how conversations start: poisson, constant, bursts or ramp", {},
   [](workload_source& s, std::string_view flag, std::string_view v)
     -> std::optional<std::string> {
     auto kind = parse_arrival_kind(v);
     if (!kind)
       return expects(flag, "poisson, constant, bursts or ramp", v);
     s.generator.arrival.kind = *kind;
     return std::nullopt;
   }},
  {"--rate", "R", scope::generator,
   "conversations per second (poisson, constant)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_positive(s.generator.arrival.rate, flag, v);
   }},
  {"--burst-size", "N", scope::generator,
   "conversations per burst (bursts)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_int<uint32_t>(s.generator.arrival.burst_size, flag, v, 1, u32_max);
   }},
  {"--burst-gap-s", "T", scope::generator,
   "seconds between bursts (bursts)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_positive(s.generator.arrival.burst_gap_s, flag, v);
   }},
  {"--ramp-from", "R", scope::generator,
   "conversations per second at time 0 (ramp)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_non_negative(s.generator.arrival.ramp_from, flag, v);
   }},
  {"--ramp-to", "R", scope::generator,
   "conversations per second at the end of the ramp and after (ramp)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_non_negative(s.generator.arrival.ramp_to, flag, v);
   }},
  {"--ramp-s", "T", scope::generator,
   "ramp length in seconds (ramp; 0 = --duration-s)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_non_negative(s.generator.arrival.ramp_s, flag, v);
   }},
  {"--isl", "DIST", scope::generator,
   "prompt tokens of a standalone request, system prompt included", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_distribution(s.generator.isl, flag, v);
   }},
  {"--osl", "DIST", scope::generator,
   "max_tokens of every request", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_distribution(s.generator.osl, flag, v);
   }},
  {"--prefix-groups", "N", scope::generator,
   "shared system prompts (0 = none)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_int<uint32_t>(s.generator.prefix_groups, flag, v, 0, max_prefix_groups);
   }},
  {"--prefix-tokens", "DIST", scope::generator,
   "tokens of each system prompt (drawn once per group)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_distribution(s.generator.prefix_length, flag, v);
   }},
  {"--group-pick", "KIND", scope::generator,
   "how a conversation picks its system prompt: uniform or zipf", {},
   [](workload_source& s, std::string_view flag, std::string_view v)
     -> std::optional<std::string> {
     if (v == "uniform")
       s.generator.pick = group_pick::uniform;
     else if (v == "zipf")
       s.generator.pick = group_pick::zipf;
     else
       return expects(flag, "uniform or zipf", v);
     return std::nullopt;
   }},
  {"--zipf-s", "S", scope::generator,
   "Zipf exponent for --group-pick zipf (default 1)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_in(s.generator.zipf_s, flag, v, 0.0, max_zipf_s);
   }},
  {"--session-fraction", "F", scope::generator,
   "probability in [0, 1] that a conversation is multi-turn", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_in(s.generator.session_fraction, flag, v, 0.0, 1.0);
   }},
  {"--turns", "DIST", scope::generator,
   "turns per multi-turn session", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_distribution(s.generator.turns, flag, v);
   }},
  {"--think-time-s", "DIST", scope::generator,
   "seconds of think time before a later turn", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_distribution(s.generator.think_time_s, flag, v);
   }},
  {"--user-tokens", "DIST", scope::generator,
   "tokens of each user message in a session", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_distribution(s.generator.user_tokens, flag, v);
   }},
  {"--max-prompt-tokens", "N", scope::generator,
   "cut standalone prompts to N tokens; end a session before a turn\n"
   "would exceed N (0 = no cap)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_int<uint32_t>(s.generator.max_prompt_tokens, flag, v, 0, u32_max);
   }},
  {"--start-offset-s", "T", scope::replay,
   "skip conversations starting before T s of trace time; the rest\n"
   "are shifted so that T becomes time 0", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     return set_non_negative(s.replay.start_offset_s, flag, v);
   }},
  {"--truncate-hash-ids", {}, scope::replay,
   "drop surplus hash ids of a record (counted) instead of rejecting it", {},
   [](workload_source& s, std::string_view, std::string_view) -> std::optional<std::string> {
     s.replay.truncate_hash_ids = true;
     return std::nullopt;
   }},
  {"--block-size", "N", scope::layout,
   "tokens per hash block (default 512, as in Mooncake traces)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     auto err = set_int<uint32_t>(s.generator.layout.block_size, flag, v, 1, max_block_size);
     s.replay.layout.block_size = s.generator.layout.block_size;
     return err;
   }},
  {"--token-range", "LO-HI", scope::prompt,
   "prompt token ids are drawn from [LO, HI) (default 3-256); keep it\n"
   "inside the served model's vocabulary", {},
   [](workload_source& s, std::string_view flag, std::string_view v)
     -> std::optional<std::string> {
     auto range = parse_token_range(v);
     if (!range)
       return fmt::format("{}: {}", flag, client_message(range.error()));
     s.generator.layout.tokens = *range;
     s.replay.layout.tokens = *range;
     return std::nullopt;
   }},
  {"--salt", "N", scope::prompt,
   "changes every prompt block's tokens, e.g. to defeat a warm cache\n(default 0)", {},
   [](workload_source& s, std::string_view flag, std::string_view v) {
     auto err = set_int<uint64_t>(s.generator.layout.salt, flag, v, 0, u64_max);
     s.replay.layout.salt = s.generator.layout.salt;
     return err;
   }},
};

bool offered(const flag_spec& spec, const workload_flags_config& cfg) {
  switch (spec.where) {
    case scope::replay:
      return cfg.replay_flags;
    case scope::prompt:
      return cfg.prompt_flags;
    default:
      return true;
  }
}

bool applies_to_trace(const flag_spec& spec, const workload_flags_config& cfg) {
  switch (spec.where) {
    case scope::generator:
      return false;
    case scope::count:
      return cfg.replay_flags;
    default:
      return true;
  }
}

const flag_spec* find_flag(std::string_view name, const workload_flags_config& cfg) {
  for (const auto& spec : flag_table)
    if (spec.name == name && offered(spec, cfg))
      return &spec;
  return nullptr;
}

caf::error usage(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

/// A validation error of the generator config, rephrased with the flag that sets the field.
caf::error with_flag(const caf::error& err) {
  static constexpr std::pair<std::string_view, std::string_view> fields[] = {
    {"preset", "--preset"},
    {"requests", "--requests"},
    {"duration_s", "--duration-s"},
    {"arrival.rate", "--rate"},
    {"arrival.burst_size", "--burst-size"},
    {"arrival.burst_gap_s", "--burst-gap-s"},
    {"arrival.ramp_from", "--ramp-from/--ramp-to"},
    {"arrival.ramp_s", "--ramp-s"},
    {"isl", "--isl"},
    {"osl", "--osl"},
    {"prefix_length", "--prefix-tokens"},
    {"prefix_groups", "--prefix-groups"},
    {"zipf_s", "--zipf-s"},
    {"session_fraction", "--session-fraction"},
    {"turns", "--turns"},
    {"think_time_s", "--think-time-s"},
    {"user_tokens", "--user-tokens"},
    {"block_size", "--block-size"},
    {"tokens", "--token-range"},
  };
  auto message = client_message(err);
  const auto colon = message.find(": ");
  if (colon != std::string::npos) {
    const std::string_view field{message.data(), colon};
    for (const auto& [name, flag] : fields)
      if (name == field)
        return usage(fmt::format("{}: {}", flag, message.substr(colon + 2)));
  }
  return usage(fmt::format("invalid workload: {}", message));
}

/// Checks a generated workload's config, naming flags in the common mistakes.
caf::error validate_generator(const generator_config& gen) {
  if (gen.requests == 0 && gen.duration_s == 0.0)
    return usage("--requests 0 needs --duration-s T > 0 to bound the workload");
  if (gen.arrival.kind == arrival_kind::ramp) {
    if (gen.arrival.ramp_s == 0.0 && gen.duration_s == 0.0)
      return usage("--arrival ramp needs its length: give --ramp-s T or --duration-s T");
    if (gen.arrival.ramp_from == 0.0 && gen.arrival.ramp_to == 0.0)
      return usage("--arrival ramp needs --ramp-from or --ramp-to above 0");
  }
  if (auto err = validate(gen))
    return with_flag(err);
  return {};
}

/// Appends `text` (lines separated by '\n') to `out`, every line after the first indented to
/// the help column.
void append_help_lines(std::string& out, std::string_view text) {
  for (size_t start = 0, end = 0; start <= text.size(); start = end + 1) {
    end = std::min(text.find('\n', start), text.size());
    if (start > 0)
      out.append(help_column, ' ');
    out.append(text.substr(start, end - start));
    out.push_back('\n');
  }
}

void append_flag_help(std::string& out, const flag_spec& spec, const workload_flags_config& cfg) {
  auto left = spec.metavar.empty() ? std::string{spec.name}
                                   : fmt::format("{} {}", spec.name, spec.metavar);
  out += "  ";
  out += left;
  if (left.size() + 2 < help_column - 1) {
    out.append(help_column - 2 - left.size(), ' ');
  } else {
    out.push_back('\n');
    out.append(help_column, ' ');
  }
  append_help_lines(out, spec.help);
  if (cfg.replay_flags && !spec.replay_help.empty()) {
    out.append(help_column, ' ');
    append_help_lines(out, spec.replay_help);
  }
}

/// A workload flag found on the command line, with its value (empty for a switch).
struct given {
  const flag_spec* spec;
  std::string_view value;
};

/// The command line separated into workload flags and the rest.
struct split_args {
  std::vector<given> flags;             ///< Workload flags in order.
  std::vector<std::string_view> rest;   ///< Everything else, in order.
  caf::error error;                     ///< The first flag without its value or given twice.
};

split_args split(std::span<const std::string_view> args, const workload_flags_config& cfg) {
  split_args out;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto arg = args[i];
    const auto* spec = find_flag(arg, cfg);
    if (spec == nullptr) {
      out.rest.push_back(arg);
      const bool tool_value = std::find(cfg.tool_value_flags.begin(), cfg.tool_value_flags.end(),
                                        arg) != cfg.tool_value_flags.end();
      if (tool_value && i + 1 < args.size())
        out.rest.push_back(args[++i]);
      continue;
    }
    std::string_view value;
    if (!spec->metavar.empty()) {
      if (i + 1 >= args.size()) {
        if (!out.error)
          out.error = usage(fmt::format("{} needs a value ({})", arg, spec->metavar));
        break;
      }
      value = args[++i];
    }
    const bool repeated = std::any_of(out.flags.begin(), out.flags.end(),
                                      [spec](const given& g) { return g.spec == spec; });
    if (repeated && !out.error)
      out.error = usage(fmt::format("{} given twice", arg));
    out.flags.push_back(given{spec, value});
  }
  return out;
}

constexpr std::string_view presets_help = R"(presets (every knob overrides the preset's value):
  shared-prefix          8 system prompts of 2048 tokens, 256-token suffixes, OSL 128,
                         Poisson 10/s, 1000 requests
  multi-turn             sessions of 4-8 turns, think time 1-3 s, user messages of
                         128-512 tokens, OSL 128, 2 sessions/s, 384 requests; each
                         turn's prompt extends the previous one (its prompt, a synthetic
                         assistant reply as long as its max_tokens, a new user message)
  mixed                  16 Zipf-picked 1024-token system prompts, 30% multi-turn
                         (2-6 turns), lognormal ISL (mean 2560), OSL 32-256, prompts
                         capped at 16384 tokens, 8 conversations/s, 1000 requests
DIST is fixed:N (or N), uniform:LO-HI, normal:MEAN,SD or lognormal:MEAN,SIGMA (lognormal's
MEAN is the mean of the values, SIGMA the sd of their log); token counts are rounded and
clamped to >= 1, times to >= 0.
)";

} // namespace

caf::expected<parsed_workload_flags>
parse_workload_flags(std::span<const std::string_view> args, const workload_flags_config& cfg) {
  auto parts = split(args, cfg);
  if (parts.error)
    return std::move(parts.error);
  parsed_workload_flags result;
  result.rest = std::move(parts.rest);
  const auto& list = parts.flags;
  auto& src = result.source;
  const auto is = [](const given& g, std::string_view name) { return g.spec->name == name; };
  const auto preset_it = std::find_if(list.begin(), list.end(),
                                      [is](const given& g) { return is(g, "--preset"); });
  const auto trace_it = std::find_if(list.begin(), list.end(),
                                     [is](const given& g) { return is(g, "--trace"); });
  const bool has_preset = preset_it != list.end();
  const bool has_trace = trace_it != list.end();
  if (has_preset == has_trace)
    return usage(has_preset ? "give one of --preset NAME and --trace FILE, not both"
                            : "give exactly one of --preset NAME and --trace FILE");
  // The preset is the base that the knobs change, wherever it appears.
  if (has_preset) {
    auto gen = preset(preset_it->value);
    if (!gen)
      return with_flag(gen.error());
    src.generator = std::move(*gen);
    src.params.emplace_back("preset", std::string{preset_it->value});
  } else {
    src.params.emplace_back("trace", std::string{trace_it->value});
  }
  bool requests_given = false;
  bool duration_given = false;
  for (const auto& g : list) {
    if (has_trace && !applies_to_trace(*g.spec, cfg))
      return usage(fmt::format("{} only applies to --preset (it is a generator knob)",
                               g.spec->name));
    if (has_preset && g.spec->where == scope::replay)
      return usage(fmt::format("{} only applies to --trace", g.spec->name));
    if (auto err = g.spec->apply(src, g.spec->name, g.value))
      return usage(std::move(*err));
    requests_given = requests_given || is(g, "--requests");
    duration_given = duration_given || is(g, "--duration-s");
    if (g.spec->where != scope::source)
      src.params.emplace_back(std::string{g.spec->name.substr(2)},
                              g.spec->metavar.empty() ? std::string{"true"}
                                                      : std::string{g.value});
  }
  if (has_preset) {
    // A duration alone bounds the workload by time, not by the preset's request count.
    if (duration_given && !requests_given)
      src.generator.requests = 0;
    if (auto err = validate_generator(src.generator))
      return err;
  } else if (auto err = validate(src.replay.layout)) {
    return with_flag(err);
  }
  return result;
}

std::vector<std::string_view> other_arguments(std::span<const std::string_view> args,
                                              const workload_flags_config& cfg) {
  return split(args, cfg).rest;
}

caf::expected<parsed_workload_flags> parse_workload_flags(int argc, const char* const* argv,
                                                          const workload_flags_config& cfg) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i)
    args.emplace_back(argv[i]);
  return parse_workload_flags(std::span<const std::string_view>{args}, cfg);
}

std::vector<std::string_view> workload_flag_names(const workload_flags_config& cfg) {
  std::vector<std::string_view> names;
  for (const auto& spec : flag_table)
    if (offered(spec, cfg))
      names.push_back(spec.name);
  return names;
}

bool is_workload_flag(std::string_view arg, const workload_flags_config& cfg) {
  return find_flag(arg, cfg) != nullptr;
}

std::string workload_flags_help(const workload_flags_config& cfg) {
  struct section {
    std::string_view heading;
    scope first;
    scope second;
  };
  const section sections[] = {
    {"workload (exactly one source):", scope::source, scope::source},
    {"generator knobs (--preset only; each overrides the preset's value):", scope::generator,
     scope::count},
    {"trace replay (--trace only):", scope::replay, scope::replay},
    {cfg.prompt_flags ? "blocks and prompts (both sources):" : "hash blocks (both sources):",
     scope::layout, scope::prompt},
  };
  std::string out;
  for (const auto& sec : sections) {
    std::string body;
    for (const auto& spec : flag_table)
      if (offered(spec, cfg) && (spec.where == sec.first || spec.where == sec.second))
        append_flag_help(body, spec, cfg);
    if (body.empty())
      continue;
    out += sec.heading;
    out += '\n';
    out += body;
    out += '\n';
  }
  out += presets_help;
  return out;
}

} // namespace dynamo::workload
