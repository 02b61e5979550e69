#include "dynamo/workload/mooncake.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <istream>
#include <limits>
#include <map>
#include <numeric>
#include <ostream>
#include <unordered_map>
#include <unordered_set>

namespace dynamo::workload {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

/// The line being parsed, for error messages.
struct line_context {
  std::string_view source;
  uint64_t line = 0;

  caf::error bad(std::string_view field, std::string_view what) const {
    return make_error(errc::invalid_request,
                      fmt::format("{}:{}: field '{}' {}", source, line, field, what));
  }
};

/// An integral JSON number in [lo, hi]; nullopt otherwise (fractions, strings, out of range).
std::optional<uint64_t> integer_in(const json& value, uint64_t lo, uint64_t hi) {
  uint64_t x = 0;
  if (value.is_number_unsigned()) {
    x = value.get<uint64_t>();
  } else if (value.is_number_integer()) {
    return std::nullopt;  // negative
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d) || d < 0.0 || std::trunc(d) != d || d >= 0x1p64)
      return std::nullopt;
    x = static_cast<uint64_t>(d);
  } else {
    return std::nullopt;
  }
  if (x < lo || x > hi)
    return std::nullopt;
  return x;
}

caf::error read_integer(const json& doc, const line_context& at, const char* field, bool required,
                        uint64_t lo, uint64_t hi, std::optional<uint64_t>& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) {
    if (required)
      return at.bad(field, "is missing");
    return {};
  }
  out = integer_in(*it, lo, hi);
  if (!out)
    return at.bad(field, fmt::format("must be an integer in [{}, {}], got {}", lo, hi,
                                     it->dump()));
  return {};
}

caf::error read_time(const json& doc, const line_context& at, const char* field, bool required,
                     std::optional<double>& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) {
    if (required)
      return at.bad(field, "is missing");
    return {};
  }
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0.0)
    return at.bad(field, fmt::format("must be a finite number of milliseconds >= 0, got {}",
                                     it->dump()));
  out = it->get<double>();
  return {};
}

caf::expected<trace_record> parse_line(std::string_view text, const line_context& at,
                                       std::unordered_map<uint64_t, uint32_t>& next_turn) {
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return make_error(errc::invalid_request,
                      fmt::format("{}:{}: not valid JSON", at.source, at.line));
  if (!doc.is_object())
    return make_error(errc::invalid_request,
                      fmt::format("{}:{}: a record must be a JSON object", at.source, at.line));
  constexpr uint64_t u32_max = std::numeric_limits<uint32_t>::max();
  constexpr uint64_t u64_max = std::numeric_limits<uint64_t>::max();
  trace_record r;
  r.line = at.line;
  std::optional<double> timestamp;
  std::optional<uint64_t> input_length;
  std::optional<uint64_t> output_length;
  std::optional<uint64_t> session;
  std::optional<uint64_t> turn;
  if (auto err = read_time(doc, at, "timestamp", true, timestamp))
    return err;
  if (auto err = read_integer(doc, at, "input_length", true, 1, u32_max, input_length))
    return err;
  if (auto err = read_integer(doc, at, "output_length", true, 0, u32_max, output_length))
    return err;
  if (auto err = read_integer(doc, at, "session_id", false, 0, u64_max, session))
    return err;
  if (auto err = read_integer(doc, at, "turn", false, 0, u32_max, turn))
    return err;
  if (auto err = read_time(doc, at, "delay_ms", false, r.delay_ms))
    return err;
  auto ids = doc.find("hash_ids");
  if (ids == doc.end() || ids->is_null())
    return at.bad("hash_ids", "is missing");
  if (!ids->is_array())
    return at.bad("hash_ids", "must be an array of integers >= 0");
  r.hash_ids.reserve(ids->size());
  for (size_t i = 0; i < ids->size(); ++i) {
    auto id = integer_in((*ids)[i], 0, u64_max);
    if (!id)
      return at.bad("hash_ids", fmt::format("element {} must be an integer >= 0, got {}", i,
                                            (*ids)[i].dump()));
    r.hash_ids.push_back(*id);
  }
  r.timestamp_ms = *timestamp;
  r.input_length = static_cast<uint32_t>(*input_length);
  r.output_length = static_cast<uint32_t>(*output_length);
  r.session_id = session.value_or(0);
  if (r.session_id == 0) {
    if (turn.value_or(0) != 0)
      return at.bad("turn", "must be 0 (or absent) for a record without a session_id");
    return r;
  }
  auto& next = next_turn[r.session_id];
  r.turn = turn ? static_cast<uint32_t>(*turn) : next;
  next = r.turn + 1;
  return r;
}

/// A conversation: the indexes of its records in turn order.
struct conversation {
  double start_ms = 0.0;
  std::vector<size_t> records;
};

caf::error check_options(const replay_options& options) {
  if (auto err = validate(options.layout))
    return err;
  if (!std::isfinite(options.time_scale) || options.time_scale <= 0.0)
    return make_error(errc::invalid_request,
                      fmt::format("time_scale: {} must be a finite number > 0",
                                  options.time_scale));
  if (!std::isfinite(options.start_offset_s) || options.start_offset_s < 0.0)
    return make_error(errc::invalid_request,
                      fmt::format("start_offset_s: {} must be a finite number >= 0",
                                  options.start_offset_s));
  return {};
}

caf::error record_error(const trace_record& r, std::string_view field, std::string what) {
  auto where = r.line > 0 ? fmt::format("line {}", r.line) : std::string{"record"};
  return make_error(errc::invalid_request,
                    fmt::format("{}: field '{}' {}", where, field, what));
}

/// Groups records into conversations ordered by their first turn's timestamp (stable).
caf::expected<std::vector<conversation>> group(std::span<const trace_record> records) {
  std::vector<conversation> out;
  std::unordered_map<uint64_t, size_t> by_session;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.session_id == 0) {
      if (r.turn != 0)
        return record_error(r, "turn", "must be 0 for a record without a session_id");
      out.push_back({r.timestamp_ms, {i}});
      continue;
    }
    auto [it, fresh] = by_session.try_emplace(r.session_id, out.size());
    if (fresh)
      out.push_back({r.timestamp_ms, {}});
    auto& conv = out[it->second];
    if (r.turn != conv.records.size())
      return record_error(r, "turn",
                          fmt::format("is {} but session {} expects turn {} next", r.turn,
                                      r.session_id, conv.records.size()));
    conv.records.push_back(i);
  }
  std::stable_sort(out.begin(), out.end(), [](const conversation& x, const conversation& y) {
    return x.start_ms < y.start_ms;
  });
  return out;
}

/// The hash ids a record's prompt uses, after checking them against its length.
caf::expected<std::span<const uint64_t>> prompt_ids(const trace_record& r,
                                                    const replay_options& options,
                                                    uint64_t& truncated) {
  const uint64_t bs = options.layout.block_size;
  const uint64_t k = r.hash_ids.size();
  const uint64_t needed = blocks_for(r.input_length, options.layout.block_size);
  if (k < needed)
    return record_error(r, "input_length",
                        fmt::format("is {} and needs {} hash ids of {} tokens, but only {} are "
                                    "given (is the block size right?)",
                                    r.input_length, needed, bs, k));
  if (k > needed) {
    if (!options.truncate_hash_ids)
      return record_error(r, "hash_ids",
                          fmt::format("has {} ids but input_length {} spans only {} blocks of "
                                      "{} tokens (is the block size right? truncation accepts "
                                      "such records)",
                                      k, r.input_length, needed, bs));
    ++truncated;
  }
  return std::span<const uint64_t>{r.hash_ids.data(), needed};
}

length_stats stats_of(std::vector<uint64_t> values) {
  length_stats out;
  if (values.empty())
    return out;
  std::sort(values.begin(), values.end());
  auto rank = [&values](double q) {
    auto index = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(index, 1, values.size()) - 1];
  };
  const double sum = std::accumulate(values.begin(), values.end(), 0.0,
                                     [](double acc, uint64_t x) { return acc + static_cast<double>(x); });
  out.mean = sum / static_cast<double>(values.size());
  out.min = values.front();
  out.p50 = rank(0.50);
  out.p90 = rank(0.90);
  out.p99 = rank(0.99);
  out.max = values.back();
  return out;
}

} // namespace

caf::expected<std::vector<trace_record>> parse_mooncake(std::istream& in,
                                                        std::string_view source) {
  std::vector<trace_record> out;
  std::unordered_map<uint64_t, uint32_t> next_turn;
  std::string text;
  line_context at{source, 0};
  while (std::getline(in, text)) {
    ++at.line;
    if (at.line == 1 && text.starts_with("\xEF\xBB\xBF"))
      text.erase(0, 3);
    if (!text.empty() && text.back() == '\r')
      text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos)
      continue;
    auto record = parse_line(text, at, next_turn);
    if (!record)
      return std::move(record.error());
    out.push_back(std::move(*record));
  }
  if (in.bad())
    return make_error(errc::unavailable, fmt::format("{}: read error after line {}", source,
                                                     at.line));
  return out;
}

caf::expected<std::vector<trace_record>> read_mooncake_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::not_found, fmt::format("cannot open trace '{}'", path.string()));
  return parse_mooncake(in, path.string());
}

caf::error write_mooncake(std::ostream& out, std::span<const trace_record> records) {
  for (const auto& r : records) {
    ordered_json doc;
    const double whole = std::trunc(r.timestamp_ms);
    if (whole == r.timestamp_ms && whole >= 0.0 && whole < 0x1p63)
      doc["timestamp"] = static_cast<uint64_t>(whole);
    else
      doc["timestamp"] = r.timestamp_ms;
    doc["input_length"] = r.input_length;
    doc["output_length"] = r.output_length;
    doc["hash_ids"] = r.hash_ids;
    if (r.session_id != 0) {
      doc["session_id"] = r.session_id;
      doc["turn"] = r.turn;
      if (r.delay_ms)
        doc["delay_ms"] = *r.delay_ms;
    }
    out << doc.dump() << '\n';
    if (!out)
      return make_error(errc::internal, "writing the trace failed");
  }
  out.flush();
  if (!out)
    return make_error(errc::internal, "writing the trace failed");
  return {};
}

caf::error write_mooncake_file(const std::filesystem::path& path,
                               std::span<const trace_record> records) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  if (!out)
    return make_error(errc::unavailable, fmt::format("cannot write '{}'", path.string()));
  if (auto err = write_mooncake(out, records))
    return make_error(errc::unavailable, fmt::format("writing '{}' failed", path.string()));
  return {};
}

caf::expected<replay_result> build_workload(std::span<const trace_record> records,
                                            const replay_options& options, std::string name) {
  if (auto err = check_options(options))
    return err;
  auto conversations = group(records);
  if (!conversations)
    return std::move(conversations.error());
  replay_result out;
  out.w.name = std::move(name);
  if (conversations->empty())
    return out;
  const double origin_ms = conversations->front().start_ms + options.start_offset_s * 1000.0;
  const uint64_t limit = options.max_requests > 0 ? options.max_requests
                                                  : std::numeric_limits<uint64_t>::max();
  uint64_t total_tokens = 0;
  uint64_t session = 0;
  for (const auto& conv : *conversations) {
    if (out.w.requests.size() >= limit)
      break;
    if (conv.start_ms < origin_ms)
      continue;
    const bool is_session = records[conv.records.front()].session_id != 0;
    if (is_session)
      ++session;
    for (size_t turn = 0; turn < conv.records.size() && out.w.requests.size() < limit; ++turn) {
      const auto& r = records[conv.records[turn]];
      auto ids = prompt_ids(r, options, out.truncated_records);
      if (!ids)
        return std::move(ids.error());
      total_tokens += r.input_length;
      if (total_tokens > options.max_total_tokens)
        return record_error(r, "input_length",
                            fmt::format("brings the workload past {} prompt tokens; limit the "
                                        "number of requests",
                                        options.max_total_tokens));
      auto prompt = build_prompt(*ids, r.input_length, options.layout);
      if (!prompt)
        return record_error(r, "hash_ids", client_message(prompt.error()));
      request_spec spec;
      spec.id = out.w.requests.size();
      if (turn == 0) {
        spec.at_s = (r.timestamp_ms - origin_ms) / 1000.0 / options.time_scale;
      } else {
        const auto& previous = records[conv.records[turn - 1]];
        const double delay = r.delay_ms.value_or(
          std::max(0.0, r.timestamp_ms - previous.timestamp_ms));
        spec.at_s = delay / 1000.0 / options.time_scale;
      }
      spec.session = is_session ? session : 0;
      spec.turn = static_cast<uint32_t>(turn);
      spec.prompt = std::move(*prompt);
      spec.max_tokens = std::max<uint32_t>(1, r.output_length);
      out.w.requests.push_back(std::move(spec));
    }
  }
  return out;
}

caf::expected<replay_result> load_mooncake(const std::filesystem::path& path,
                                           const replay_options& options) {
  auto records = read_mooncake_file(path);
  if (!records)
    return std::move(records.error());
  return build_workload(*records, options,
                        fmt::format("mooncake:{}", path.filename().string()));
}

trace_summary summarize(std::span<const trace_record> records) {
  trace_summary out;
  out.requests = records.size();
  if (records.empty())
    return out;
  std::vector<uint64_t> isl;
  std::vector<uint64_t> osl;
  isl.reserve(records.size());
  osl.reserve(records.size());
  std::unordered_set<uint64_t> sessions;
  std::unordered_set<uint64_t> seen;
  double first = records.front().timestamp_ms;
  double last = first;
  for (const auto& r : records) {
    isl.push_back(r.input_length);
    osl.push_back(r.output_length);
    out.prompt_tokens += r.input_length;
    out.output_tokens += r.output_length;
    if (r.session_id != 0)
      sessions.insert(r.session_id);
    first = std::min(first, r.timestamp_ms);
    last = std::max(last, r.timestamp_ms);
    bool leading = true;
    for (auto id : r.hash_ids) {
      ++out.blocks;
      const bool known = !seen.insert(id).second;
      leading = leading && known;
      if (leading)
        ++out.shared_blocks;
    }
  }
  out.sessions = sessions.size();
  out.span_s = (last - first) / 1000.0;
  out.isl = stats_of(std::move(isl));
  out.osl = stats_of(std::move(osl));
  out.ideal_hit_rate = out.blocks > 0 ? static_cast<double>(out.shared_blocks) /
                                          static_cast<double>(out.blocks)
                                      : 0.0;
  return out;
}

} // namespace dynamo::workload
