// The command-line flags that name a workload, shared by every tool that takes one
// (dynamo-workload, dynamo-load, later benchmarks), so that a knob is spelled the same everywhere:
// the source (--preset NAME or --trace FILE), every generator knob, the replay options of a trace
// and the prompt layout. A tool hands its arguments to parse_workload_flags(), gets back the
// workload source plus the arguments that are not workload flags, and parses those itself; its
// --help embeds workload_flags_help().
//
// Rules: a preset is applied before the knobs that change it, wherever it appears; each flag may
// be given once; a flag that does not apply to the chosen source is an error naming it. Values are
// separate arguments ("--seed 7", not "--seed=7"), like the tools' own flags.
#pragma once

#include "dynamo/workload/generator.hpp"
#include "dynamo/workload/mooncake.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::workload {

/// Which groups of workload flags a tool offers; the parser and the help text honour it, and a
/// flag that is not offered is left to the tool like any unknown argument.
struct workload_flags_config {
  /// --token-range and --salt: the tool builds prompt tokens (a trace writer does not).
  bool prompt_flags = true;
  /// --start-offset-s, --truncate-hash-ids, and --requests with --trace: the tool replays
  /// traces (rather than only reading them).
  bool replay_flags = true;
  /// The tool's own flags that take a value: the argument after one of them is passed through
  /// to the tool even when it looks like a workload flag. Borrowed for the call.
  std::vector<std::string_view> tool_value_flags;
};

/// The workload a command line names.
struct workload_source {
  std::string preset;           ///< --preset NAME; empty when a trace is given.
  std::string trace;            ///< --trace FILE; empty when a preset is given.
  generator_config generator;   ///< The preset with every knob applied (preset only).
  replay_options replay;        ///< How the trace becomes a workload (trace only).
  /// ("preset" or "trace", its value) first, then every other workload flag in the order given
  /// (name without "--", value or "true"): what reports record about the workload.
  std::vector<std::pair<std::string, std::string>> params;

  /// True when the workload is a trace to replay, false when it is generated from a preset.
  bool is_trace() const noexcept {
    return !trace.empty();
  }

  /// The hash block size in effect for either source (--block-size, default 512).
  uint32_t block_size() const noexcept {
    return is_trace() ? replay.layout.block_size : generator.layout.block_size;
  }
};

/// What parse_workload_flags() found.
struct parsed_workload_flags {
  workload_source source;  ///< The workload, validated.
  /// The arguments that are not workload flags (or their values), in order: views into the
  /// caller's arguments, for the tool to parse.
  std::vector<std::string_view> rest;
};

/// Consumes the workload flags of `args` (the command line without argv[0]) and returns the
/// source they describe plus the remaining arguments. Exactly one of --preset and --trace is
/// required; generator knobs need --preset, replay options need --trace. A generated workload
/// is validated (workload::validate) with errors mapped to the flag that sets the field;
/// --duration-s without --requests replaces the preset's request count (0 = bounded by time).
/// Any thread. Errors: invalid_request whose client message names the flag, e.g.
/// "--rate expects a number > 0, got 'fast'", "--isl only applies to --preset",
/// "--seed given twice", "--requests needs a value".
caf::expected<parsed_workload_flags>
parse_workload_flags(std::span<const std::string_view> args, const workload_flags_config& cfg);

/// The arguments parse_workload_flags() leaves to the tool, split the same way but without
/// interpreting any workload value, so that a tool can report its own unknown options before the
/// workload's errors. Views into `args`. Any thread; never fails.
std::vector<std::string_view> other_arguments(std::span<const std::string_view> args,
                                              const workload_flags_config& cfg);

/// parse_workload_flags() over main()'s argc/argv (argv[0] is skipped); the views in `rest`
/// borrow from argv. Main thread.
caf::expected<parsed_workload_flags> parse_workload_flags(int argc, const char* const* argv,
                                                          const workload_flags_config& cfg);

/// The names of the flags `cfg` offers ("--preset", "--trace", "--seed", ...), in help order.
/// Any thread.
std::vector<std::string_view> workload_flag_names(const workload_flags_config& cfg);

/// True when `arg` is a workload flag that `cfg` offers. Any thread.
bool is_workload_flag(std::string_view arg, const workload_flags_config& cfg);

/// The --help section of the flags `cfg` offers: one line or more per flag (name, value,
/// meaning, default), grouped by source, then the presets and the distribution syntax. Ends
/// with '\n'. Any thread.
std::string workload_flags_help(const workload_flags_config& cfg);

} // namespace dynamo::workload
