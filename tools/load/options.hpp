// Command line of dynamo-load: its own flags (target, pacing, report) plus the shared workload
// flags (dynamo/workload/workload_flags.hpp).
#pragma once

#include "dynamo/workload/driver.hpp"
#include "dynamo/workload/report.hpp"
#include "dynamo/workload/workload_flags.hpp"

#include <optional>
#include <string>
#include <variant>

namespace dynamo::load_tool {

/// The help text: synopsis, the tool's own flags, the workload flags. Main thread.
std::string usage();

/// What the user asked for.
struct options {
  workload::driver_config driver;           ///< URL, model, pacing, limits, nvext, progress.
  workload::slo_config slo;                 ///< Goodput bounds.
  workload::workload_source source;         ///< --trace + replay options, or --preset + knobs.
  std::optional<std::string> out;           ///< --out FILE for the JSON result.
  bool records = false;                     ///< --records: per-request records in the JSON.
  double connect_timeout_s = 5.0;           ///< Reachability check at start.
  std::string log_level = "warn";           ///< --log-level.
};

/// --help was given: print usage and exit 0.
struct show_help {};

/// A usage error with its message: exit 2.
struct usage_error {
  std::string message;  ///< Says which flag is wrong and why.
};

/// Parses argv (argv[0] is skipped); flags may come in any order (a preset is applied before
/// the knobs that change it). The tool's own flags are checked first, then the workload's.
/// Main thread.
std::variant<options, show_help, usage_error> parse_options(int argc, const char* const* argv);

} // namespace dynamo::load_tool
