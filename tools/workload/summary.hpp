// dynamo-workload's output: the trace summary as text or JSON, and the live progress line.
#pragma once

#include "dynamo/workload/mooncake.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace dynamo::workload_tool {

/// What the summary says about where the trace came from.
struct summary_context {
  std::string name;              ///< Preset name or "mooncake:<file>".
  std::optional<uint64_t> seed;  ///< For generated workloads.
  uint32_t block_size = 512;     ///< Hash block size the trace is read with.
};

/// Records whose hash_ids do not match input_length for `block_size` (replaying them fails
/// unless truncation is allowed). Main thread.
uint64_t mismatched_records(std::span<const workload::trace_record> records,
                            uint32_t block_size);

/// A human-readable multi-line summary. Main thread.
std::string format_text(const workload::trace_summary& s, const summary_context& context,
                        uint64_t mismatched);

/// The summary as one JSON object and a newline. Main thread.
std::string format_json(const workload::trace_summary& s, const summary_context& context,
                        uint64_t mismatched);

/// A single status line on stderr, redrawn at most 10 times a second; silent when disabled.
/// Main thread.
class progress_line {
public:
  /// `enabled`: whether to draw at all (a TTY, or --progress).
  explicit progress_line(bool enabled) : enabled_(enabled) {}

  /// Shows `text` (throttled; the first update always shows).
  void update(const std::string& text);

  /// Ends the line so that later output starts on a clean line.
  void done();

private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

} // namespace dynamo::workload_tool
