// dynamo-workload: generates seeded workloads (shared-prefix groups, multi-turn sessions, arrival
// patterns) as Mooncake traces, and summarises traces (lengths, sessions, ideal prefix hit rate).
#include "options.hpp"
#include "summary.hpp"

#include "dynamo/error.hpp"
#include "dynamo/workload/generator.hpp"
#include "dynamo/workload/mooncake.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <span>
#include <string>
#include <unistd.h>

namespace {

using namespace dynamo;
using workload_tool::options;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

int usage_failure(const std::string& message) {
  fmt::print(stderr, "dynamo-workload: {}\n(see dynamo-workload --help)\n", message);
  return exit_usage;
}

int failure(const std::string& message) {
  fmt::print(stderr, "dynamo-workload: {}\n", message);
  return exit_failure;
}

/// Writes the trace in chunks so that the progress line moves on large workloads.
caf::error write_trace(const std::string& path, std::span<const workload::trace_record> records,
                       workload_tool::progress_line& progress) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  if (!out)
    return make_error(errc::unavailable, fmt::format("cannot write '{}'", path));
  constexpr size_t chunk = 4096;
  for (size_t i = 0; i < records.size(); i += chunk) {
    auto part = records.subspan(i, std::min(chunk, records.size() - i));
    if (workload::write_mooncake(out, part))
      return make_error(errc::unavailable, fmt::format("writing '{}' failed", path));
    progress.update(fmt::format("writing {}: {}/{} requests", path, i + part.size(),
                                records.size()));
  }
  return {};
}

int run(const options& opts) {
  workload_tool::progress_line progress{opts.progress || ::isatty(STDERR_FILENO) == 1};
  std::vector<workload::trace_record> records;
  workload_tool::summary_context context;
  const auto& gen = opts.source.generator;
  if (opts.source.is_trace()) {
    const auto& trace = opts.source.trace;
    progress.update(fmt::format("reading {}", trace));
    auto read = workload::read_mooncake_file(trace);
    progress.done();
    if (!read)
      return failure(client_message(read.error()));
    records = std::move(*read);
    context.name = fmt::format("mooncake:{}", trace);
  } else {
    progress.update(fmt::format("generating {} (seed {})", gen.name, gen.seed));
    auto generated = workload::generate_trace(gen);
    if (!generated) {
      progress.done();
      return usage_failure(client_message(generated.error()));
    }
    records = std::move(*generated);
    context.name = gen.name;
    context.seed = gen.seed;
    if (!opts.out.empty()) {
      auto err = write_trace(opts.out, records, progress);
      progress.done();
      if (err)
        return failure(client_message(err));
      fmt::print(stderr, "dynamo-workload: wrote {} requests to {}\n", records.size(), opts.out);
    }
  }
  progress.done();
  context.block_size = opts.source.block_size();
  if (opts.stats) {
    auto summary = workload::summarize(records);
    auto mismatched = workload_tool::mismatched_records(records, context.block_size);
    fmt::print("{}", opts.json ? workload_tool::format_json(summary, context, mismatched)
                               : workload_tool::format_text(summary, context, mismatched));
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  auto parsed = workload_tool::parse_options(argc, argv);
  if (std::holds_alternative<workload_tool::show_help>(parsed)) {
    fmt::print("{}", workload_tool::usage());
    return 0;
  }
  if (auto* err = std::get_if<workload_tool::usage_error>(&parsed))
    return usage_failure(err->message);
  try {
    return run(std::get<options>(parsed));
  } catch (const std::exception& e) {
    return failure(fmt::format("unexpected failure: {}", e.what()));
  }
}
