// Mooncake traces (FAST'25 format): JSONL records {"timestamp": ms, "input_length": n,
// "output_length": m, "hash_ids": [...]} where equal hash ids at equal positions mean equal
// prompt prefixes (one id per block of 512 tokens by default). We also read and write three
// optional extensions for multi-turn workloads: "session_id" (0 or absent = standalone), "turn"
// (0-based, in order within a session) and "delay_ms" (think time before a later turn).
//
// Reading is two steps: parse_mooncake checks every line and field; build_workload rebuilds
// prompts with the trace's sharing structure through prompt_builder and applies replay options.
#pragma once

#include "dynamo/workload/prompt_builder.hpp"
#include "dynamo/workload/workload.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::workload {

/// One line of a Mooncake trace.
struct trace_record {
  double timestamp_ms = 0.0;        ///< Arrival in ms from the trace's start (>= 0).
  uint32_t input_length = 0;        ///< Prompt tokens (>= 1).
  uint32_t output_length = 0;       ///< Tokens to generate (0 is replayed as 1).
  std::vector<uint64_t> hash_ids;   ///< One id per prompt block; equal ids = equal prefix.
  uint64_t session_id = 0;          ///< Extension: 0 = standalone.
  uint32_t turn = 0;                ///< Extension: 0-based turn within the session.
  std::optional<double> delay_ms;   ///< Extension: think time before this (later) turn.
  uint64_t line = 0;                ///< 1-based source line; 0 when not read from a file.
  friend bool operator==(const trace_record&, const trace_record&) = default;
};

/// Parses JSONL from `in`; blank lines are skipped, unknown fields ignored, a missing "turn"
/// means the session's next turn. `source` names the input in errors. Calling thread (blocking
/// reads). Errors: invalid_request "SOURCE:LINE: field 'F' ..." for the first bad line.
caf::expected<std::vector<trace_record>> parse_mooncake(std::istream& in,
                                                        std::string_view source);

/// parse_mooncake over a file. Errors: not_found when it cannot be opened, else as above.
caf::expected<std::vector<trace_record>> read_mooncake_file(const std::filesystem::path& path);

/// Writes one JSON object per record with the fields in the usual order; the extension fields
/// only for records of a session. Timestamps are written as integers when they are whole.
/// Calling thread. Errors: internal when the stream fails.
caf::error write_mooncake(std::ostream& out, std::span<const trace_record> records);

/// write_mooncake to a file (created or truncated). Errors: unavailable when it cannot be
/// written.
caf::error write_mooncake_file(const std::filesystem::path& path,
                               std::span<const trace_record> records);

/// How a trace becomes a workload.
struct replay_options {
  prompt_layout layout;              ///< Block size, token range and salt of the prompts.
  double time_scale = 1.0;           ///< Speed-up: arrival gaps and think times are divided by it.
  double start_offset_s = 0.0;       ///< Skip conversations starting earlier (trace time); the
                                     ///< rest are shifted so that the offset becomes time 0.
  uint64_t max_requests = 0;         ///< Keep at most this many requests (0 = all).
  bool truncate_hash_ids = false;    ///< Accept records with more hash ids than their length
                                     ///< needs by dropping the surplus (counted), not an error.
  uint64_t max_total_tokens = 1ull << 30;  ///< Refuse to build more prompt tokens than this.
};

/// A replayed trace.
struct replay_result {
  workload w;                        ///< The requests, in conversation order.
  uint64_t truncated_records = 0;    ///< Records whose surplus hash ids were dropped.
};

/// Rebuilds prompts from hash ids: hash id h is block_tokens(h, block_size); a record with n
/// tokens and k ids uses blocks 0..k-2 in full and the first n - (k-1)*bs tokens of the last.
/// Conversations (a standalone record, or all turns of a session) are ordered by the time of
/// their first turn; a session's later turns get at_s = think time (delay_ms, else the gap to
/// the previous turn's timestamp). Any thread. Errors: invalid_request naming the line and
/// field (length vs hash ids, turn order) or the option that is out of range.
caf::expected<replay_result> build_workload(std::span<const trace_record> records,
                                            const replay_options& options, std::string name);

/// read_mooncake_file + build_workload; the workload is named "mooncake:<file name>".
caf::expected<replay_result> load_mooncake(const std::filesystem::path& path,
                                           const replay_options& options);

/// Percentiles of a list of lengths (nearest rank); all 0 for an empty list.
struct length_stats {
  double mean = 0.0;  ///< Arithmetic mean.
  uint64_t min = 0;   ///< Smallest value.
  uint64_t p50 = 0;   ///< Median.
  uint64_t p90 = 0;   ///< 90th percentile.
  uint64_t p99 = 0;   ///< 99th percentile.
  uint64_t max = 0;   ///< Largest value.
};

/// What a trace looks like, for dynamo-workload --stats.
struct trace_summary {
  uint64_t requests = 0;            ///< Records.
  uint64_t sessions = 0;            ///< Distinct non-zero session ids.
  double span_s = 0.0;              ///< Last minus first timestamp, seconds.
  uint64_t prompt_tokens = 0;       ///< Sum of input lengths.
  uint64_t output_tokens = 0;       ///< Sum of output lengths.
  length_stats isl;                 ///< Input lengths.
  length_stats osl;                 ///< Output lengths.
  uint64_t blocks = 0;              ///< Prompt blocks (hash ids used) over all records.
  uint64_t shared_blocks = 0;       ///< Leading blocks whose id an earlier record already used.
  /// shared_blocks / blocks: the prefix hit rate of an infinite cache shared by all workers.
  double ideal_hit_rate = 0.0;
};

/// Summarises `records` in file order. Any thread; never fails.
trace_summary summarize(std::span<const trace_record> records);

} // namespace dynamo::workload
