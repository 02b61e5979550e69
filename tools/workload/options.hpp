// Command line of dynamo-workload: the shared workload flags (dynamo/workload/workload_flags.hpp)
// plus what to do with the workload.
#pragma once

#include "dynamo/workload/workload_flags.hpp"

#include <string>
#include <variant>

namespace dynamo::workload_tool {

/// The help text: synopsis, the workload flags this tool offers, its own flags. Main thread.
std::string usage();

/// What the user asked for.
struct options {
  workload::workload_source source;  ///< --preset with knobs (generate) or --trace (summarise).
  std::string out;                   ///< --out FILE: where the generated trace goes.
  bool stats = false;                ///< --stats: print a summary.
  bool json = false;                 ///< --json: the summary as one JSON object.
  bool progress = false;             ///< --progress: a live progress line even without a TTY.
};

/// --help was given: print usage and exit 0.
struct show_help {};

/// A usage error with its message naming the flag: exit 2.
struct usage_error {
  std::string message;
};

/// Parses argv (argv[0] is skipped) and validates the generator config. Main thread.
std::variant<options, show_help, usage_error> parse_options(int argc, const char* const* argv);

} // namespace dynamo::workload_tool
