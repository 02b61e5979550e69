#include "options.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <span>
#include <string_view>
#include <vector>

namespace dynamo::workload_tool {

namespace {

/// The workload flags dynamo-workload offers: it writes and summarises traces, so it neither
/// builds prompt tokens nor replays.
workload::workload_flags_config flags_config() {
  workload::workload_flags_config cfg;
  cfg.prompt_flags = false;
  cfg.replay_flags = false;
  cfg.tool_value_flags = {"--out"};
  return cfg;
}

constexpr std::string_view synopsis = R"(usage:
  dynamo-workload --preset NAME [knobs] (--out FILE.jsonl | --stats) [--json]
  dynamo-workload --trace FILE.jsonl --stats [--block-size N] [--json]

Generates a seeded, reproducible workload and writes it as a Mooncake trace (JSONL with
"timestamp" ms, "input_length", "output_length", "hash_ids", plus "session_id", "turn" and
"delay_ms" for multi-turn sessions), or summarises an existing trace. dynamo-load replays such
traces against an OpenAI endpoint and takes the same workload flags.

)";

constexpr std::string_view own_flags = R"(
output:
  --out FILE             write the generated trace to FILE
  --stats                print requests, sessions, ISL/OSL percentiles and the ideal prefix
                         hit rate (the fraction of prompt blocks an earlier request used)
  --json                 print the summary as one JSON object (implies --stats)
  --progress             draw the progress line even when stderr is not a terminal
  --help                 this text

exit status: 0 done, 1 the trace could not be read or written, 2 usage error (bad flags, bad
workload).
)";

} // namespace

std::string usage() {
  return fmt::format("{}{}{}", synopsis, workload::workload_flags_help(flags_config()),
                     own_flags);
}

std::variant<options, show_help, usage_error> parse_options(int argc, const char* const* argv) {
  const auto cfg = flags_config();
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i)
    args.emplace_back(argv[i]);
  // The tool's own flags first, so that a mistyped flag is reported as such rather than as a
  // missing workload source.
  options opts;
  const auto rest = workload::other_arguments(args, cfg);
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--help" || rest[i] == "-h")
      return show_help{};
    i += rest[i] == "--out" ? 1 : 0;
  }
  for (size_t i = 0; i < rest.size(); ++i) {
    const auto arg = rest[i];
    if (arg == "--stats" || arg == "--json") {
      opts.stats = true;
      opts.json = opts.json || arg == "--json";
    } else if (arg == "--progress") {
      opts.progress = true;
    } else if (arg == "--out") {
      if (i + 1 >= rest.size())
        return usage_error{"--out needs a value (FILE)"};
      if (!opts.out.empty())
        return usage_error{"--out given twice"};
      opts.out = std::string{rest[++i]};
      if (opts.out.empty())
        return usage_error{"--out expects a file name, got ''"};
    } else if (arg.starts_with("-")) {
      return usage_error{fmt::format("unknown option {}", arg)};
    } else {
      return usage_error{fmt::format("unexpected argument '{}'", arg)};
    }
  }
  auto parsed = workload::parse_workload_flags(std::span<const std::string_view>{args}, cfg);
  if (!parsed)
    return usage_error{client_message(parsed.error())};
  opts.source = std::move(parsed->source);
  if (opts.source.is_trace()) {
    if (!opts.out.empty())
      return usage_error{"--out only applies to --preset (a trace is summarised, not rewritten)"};
    if (!opts.stats)
      return usage_error{"--trace FILE needs --stats (or --json)"};
  } else if (opts.out.empty() && !opts.stats) {
    return usage_error{"nothing to do: give --out FILE and/or --stats"};
  }
  return opts;
}

} // namespace dynamo::workload_tool
