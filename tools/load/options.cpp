#include "options.hpp"

#include "dynamo/error.hpp"
#include "dynamo/parse_number.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace dynamo::load_tool {

namespace {

constexpr std::string_view synopsis = R"(usage:
  dynamo-load --model NAME (--trace FILE.jsonl | --preset NAME) [options]

Replays a workload against an OpenAI-compatible frontend (POST /v1/completions with token-id
prompts, streamed), then prints latency percentiles, throughput, goodput and the KV hit rate seen
by clients, and optionally writes them as JSON. A live progress line goes to stderr when it is a
terminal (or with --progress). Ctrl-C stops the run early and still reports what finished.

target and pacing:
  --url URL              frontend base URL (default http://127.0.0.1:8000)
  --model NAME           "model" sent with every request (required)
  --endpoint PATH        request path (default /v1/completions)
  --concurrency N        closed loop: keep N requests in flight, ignoring send times
                         (default: open loop by the workload's send times)
  --speedup X            open loop: divide send times and think times by X (default 1)
  --max-connections N    requests in flight at most; more wait in a queue (default 256)
  --timeout-s T          per-request timeout from the actual send (default 600)
  --connect-timeout-s T  reachability check at start (default 5)
  --nvext JSON           JSON object sent as "nvext" with every request

report:
  --slo-ttft-ms X        goodput: TTFT bound in ms (from the intended send time)
  --slo-itl-ms Y         goodput: bound on a request's mean inter-token latency in ms
  --out FILE             write the JSON result (schema dynamo-load/1) to FILE
  --records              include per-request records in the JSON result
  --progress             draw the progress line even when stderr is not a terminal
  --log-level LEVEL      trace, debug, info, warn, error or off (default warn)
  --help                 this text

)";

constexpr std::string_view exit_codes = R"(
exit status: 0 the run completed (request failures are in the report), 1 the endpoint was
unreachable at start or the result could not be written, 2 usage error (bad flags, bad
workload), 130 stopped by a signal (the partial report is still written).
)";

/// Applies a flag's value; returns what was expected when the value is bad.
using apply_fn = std::optional<std::string> (*)(options&, std::string_view);

struct flag_spec {
  std::string_view name;
  bool takes_value;
  apply_fn apply;
};

std::optional<std::string> set_positive(double& target, std::string_view v) {
  auto x = parse_finite<double>(v);
  if (!x || *x <= 0.0)
    return "a number > 0";
  target = *x;
  return std::nullopt;
}

template <class Int>
std::optional<std::string> set_int(Int& target, std::string_view v, Int lo, Int hi) {
  auto x = parse_integer<Int>(v);
  if (!x || *x < lo || *x > hi)
    return fmt::format("an integer in [{}, {}]", lo, hi);
  target = *x;
  return std::nullopt;
}

constexpr flag_spec flag_table[] = {
  // target and pacing
  {"--url", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     o.driver.url = std::string{v};
     return std::nullopt;
   }},
  {"--model", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     if (v.empty())
       return "a non-empty name";
     o.driver.model = std::string{v};
     return std::nullopt;
   }},
  {"--endpoint", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     if (!v.starts_with('/'))
       return "a path starting with '/'";
     o.driver.endpoint = std::string{v};
     return std::nullopt;
   }},
  {"--concurrency", true,
   [](options& o, std::string_view v) {
     return set_int<uint32_t>(o.driver.concurrency, v, 1, 1000000);
   }},
  {"--speedup", true,
   [](options& o, std::string_view v) { return set_positive(o.driver.speedup, v); }},
  {"--max-connections", true,
   [](options& o, std::string_view v) {
     return set_int<uint32_t>(o.driver.max_connections, v, 1, 65536);
   }},
  {"--timeout-s", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     if (auto err = set_positive(o.driver.timeout_s, v))
       return err;
     if (o.driver.timeout_s > 1e6)
       return "a number in (0, 1e6]";
     return std::nullopt;
   }},
  {"--connect-timeout-s", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     if (auto err = set_positive(o.connect_timeout_s, v))
       return err;
     if (o.connect_timeout_s > 3600)
       return "a number in (0, 3600]";
     return std::nullopt;
   }},
  {"--nvext", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     o.driver.nvext_json = std::string{v};
     return std::nullopt;
   }},
  // report
  {"--slo-ttft-ms", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     double ms = 0.0;
     if (auto err = set_positive(ms, v))
       return err;
     o.slo.ttft_s = ms / 1e3;
     return std::nullopt;
   }},
  {"--slo-itl-ms", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     double ms = 0.0;
     if (auto err = set_positive(ms, v))
       return err;
     o.slo.itl_s = ms / 1e3;
     return std::nullopt;
   }},
  {"--out", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     if (v.empty())
       return "a file name";
     o.out = std::string{v};
     return std::nullopt;
   }},
  {"--records", false,
   [](options& o, std::string_view) -> std::optional<std::string> {
     o.records = true;
     return std::nullopt;
   }},
  {"--progress", false,
   [](options& o, std::string_view) -> std::optional<std::string> {
     o.driver.progress = workload::progress_mode::always;
     return std::nullopt;
   }},
  {"--log-level", true,
   [](options& o, std::string_view v) -> std::optional<std::string> {
     if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error"
         && v != "off")
       return "trace, debug, info, warn, error or off";
     o.log_level = std::string{v};
     return std::nullopt;
   }},
};

const flag_spec* find_flag(std::string_view name) {
  for (const auto& f : flag_table)
    if (f.name == name)
      return &f;
  return nullptr;
}

/// Every workload flag: dynamo-load builds prompts and replays traces. The values of the tool's
/// own flags are passed through untouched.
workload::workload_flags_config flags_config() {
  workload::workload_flags_config cfg;
  for (const auto& f : flag_table)
    if (f.takes_value)
      cfg.tool_value_flags.push_back(f.name);
  return cfg;
}

} // namespace

std::string usage() {
  return fmt::format("{}{}{}", synopsis, workload::workload_flags_help(flags_config()),
                     exit_codes);
}

std::variant<options, show_help, usage_error> parse_options(int argc, const char* const* argv) {
  const auto cfg = flags_config();
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i)
    args.emplace_back(argv[i]);
  // The tool's own flags first, so that a mistyped flag is reported as such rather than as a
  // missing workload source.
  const auto rest = workload::other_arguments(args, cfg);
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--help" || rest[i] == "-h")
      return show_help{};
    const auto* spec = find_flag(rest[i]);
    i += spec != nullptr && spec->takes_value ? 1 : 0;
  }
  options opts;
  std::vector<const flag_spec*> seen;
  for (size_t i = 0; i < rest.size(); ++i) {
    const std::string_view arg = rest[i];
    const auto* spec = find_flag(arg);
    if (spec == nullptr)
      return usage_error{arg.starts_with("-") ? fmt::format("unknown option {}", arg)
                                              : fmt::format("unexpected argument '{}'", arg)};
    if (std::find(seen.begin(), seen.end(), spec) != seen.end())
      return usage_error{fmt::format("{} given twice", arg)};
    seen.push_back(spec);
    std::string_view value;
    if (spec->takes_value) {
      if (i + 1 >= rest.size())
        return usage_error{fmt::format("{} needs a value", arg)};
      value = rest[++i];
    }
    if (auto wanted = spec->apply(opts, value))
      return usage_error{fmt::format("{} expects {}, got '{}'", arg, *wanted, value)};
  }
  auto parsed = workload::parse_workload_flags(std::span<const std::string_view>{args}, cfg);
  if (!parsed)
    return usage_error{client_message(parsed.error())};
  opts.source = std::move(parsed->source);
  if (opts.driver.model.empty())
    return usage_error{"--model is required"};
  return opts;
}

} // namespace dynamo::load_tool
