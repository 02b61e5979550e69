#include "summary.hpp"

#include "dynamo/workload/prompt_builder.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>

namespace dynamo::workload_tool {

namespace {

std::string lengths(const workload::length_stats& x) {
  return fmt::format("mean {:.1f}  p50 {}  p90 {}  p99 {}  min {}  max {}", x.mean, x.p50, x.p90,
                     x.p99, x.min, x.max);
}

nlohmann::ordered_json lengths_json(const workload::length_stats& x) {
  return {{"mean", x.mean}, {"p50", x.p50}, {"p90", x.p90},
          {"p99", x.p99},   {"min", x.min}, {"max", x.max}};
}

} // namespace

uint64_t mismatched_records(std::span<const workload::trace_record> records,
                            uint32_t block_size) {
  uint64_t n = 0;
  for (const auto& r : records)
    n += workload::blocks_for(r.input_length, block_size) != r.hash_ids.size() ? 1 : 0;
  return n;
}

std::string format_text(const workload::trace_summary& s, const summary_context& context,
                        uint64_t mismatched) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out += fmt::format("{:<16}{}\n", key, value);
  };
  line("workload", context.seed ? fmt::format("{} (seed {})", context.name, *context.seed)
                                : context.name);
  line("requests", fmt::format("{} ({} multi-turn sessions)", s.requests, s.sessions));
  line("span", s.span_s > 0.0 ? fmt::format("{:.1f} s of arrivals ({:.2f} requests/s)", s.span_s,
                                            static_cast<double>(s.requests) / s.span_s)
                              : fmt::format("{:.1f} s of arrivals", s.span_s));
  line("ISL tokens", lengths(s.isl));
  line("OSL tokens", lengths(s.osl));
  line("tokens", fmt::format("{} prompt, {} output", s.prompt_tokens, s.output_tokens));
  line("prompt blocks", fmt::format("{} of {} tokens; {} already used by an earlier request",
                                    s.blocks, context.block_size, s.shared_blocks));
  line("ideal hit rate", fmt::format("{:.1f}% of prompt blocks (an infinite cache shared by all "
                                     "workers)",
                                     100.0 * s.ideal_hit_rate));
  if (mismatched > 0)
    line("warning", fmt::format("{} records have hash_ids that do not match input_length for "
                                "{}-token blocks (wrong --block-size?)",
                                mismatched, context.block_size));
  return out;
}

std::string format_json(const workload::trace_summary& s, const summary_context& context,
                        uint64_t mismatched) {
  nlohmann::ordered_json doc;
  doc["workload"] = context.name;
  if (context.seed)
    doc["seed"] = *context.seed;
  doc["requests"] = s.requests;
  doc["sessions"] = s.sessions;
  doc["span_s"] = s.span_s;
  doc["isl"] = lengths_json(s.isl);
  doc["osl"] = lengths_json(s.osl);
  doc["prompt_tokens"] = s.prompt_tokens;
  doc["output_tokens"] = s.output_tokens;
  doc["block_size"] = context.block_size;
  doc["blocks"] = s.blocks;
  doc["shared_blocks"] = s.shared_blocks;
  doc["ideal_hit_rate"] = s.ideal_hit_rate;
  doc["mismatched_records"] = mismatched;
  return doc.dump() + "\n";
}

void progress_line::update(const std::string& text) {
  if (!enabled_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds{100})
    return;
  last_ = now;
  shown_ = true;
  fmt::print(stderr, "\r{}\x1b[K", text);
  std::fflush(stderr);
}

void progress_line::done() {
  if (!enabled_ || !shown_)
    return;
  fmt::print(stderr, "\r\x1b[K");
  std::fflush(stderr);
  shown_ = false;
}

} // namespace dynamo::workload_tool
