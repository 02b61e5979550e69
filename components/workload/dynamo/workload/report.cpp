#include "dynamo/workload/report.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace dynamo::workload {

namespace {

using json = nlohmann::ordered_json;

double ms(double s) {
  return s * 1e3;
}

json latency_ms(const latency_stats& d) {
  return json{{"count", d.count}, {"mean", ms(d.mean)}, {"min", ms(d.min)}, {"p50", ms(d.p50)},
              {"p90", ms(d.p90)}, {"p99", ms(d.p99)}, {"max", ms(d.max)}};
}

json optional_number(const std::optional<double>& x, double scale = 1.0) {
  return x ? json(*x * scale) : json(nullptr);
}

json record_json(const request_record& r) {
  json itl = json::array();
  for (auto x : r.itl_s)
    itl.push_back(ms(x));
  json usage = r.has_usage ? json{{"prompt_tokens", r.prompt_tokens},
                                  {"completion_tokens", r.completion_tokens},
                                  {"cached_tokens", r.cached_tokens}}
                           : json(nullptr);
  return json{
    {"id", r.id},
    {"session", r.session},
    {"turn", r.turn},
    {"prompt_len", r.prompt_len},
    {"max_tokens", r.max_tokens},
    {"intended_s", r.intended_s},
    {"sent_s", optional_number(r.sent_s)},
    {"first_token_s", optional_number(r.first_token_s)},
    {"last_token_s", optional_number(r.last_token_s)},
    {"done_s", r.done_s},
    {"ttft_ms", optional_number(r.ttft_s(), 1e3)},
    {"ttft_from_send_ms", optional_number(r.ttft_from_send_s(), 1e3)},
    {"queue_ms", optional_number(r.queue_s(), 1e3)},
    {"e2e_ms", ms(r.e2e_s())},
    {"itl_ms", std::move(itl)},
    {"chunks", r.chunks},
    {"chunk_tokens", r.chunk_tokens},
    {"usage", std::move(usage)},
    {"status", r.status},
    {"failure", r.ok() ? json(nullptr) : json(r.failure)},
    {"error", r.error.empty() ? json(nullptr) : json(r.error)},
  };
}

bool meets(const request_record& r, const slo_config& slo) {
  if (!r.ok())
    return false;
  if (slo.ttft_s) {
    auto ttft = r.ttft_s();
    if (!ttft || *ttft > *slo.ttft_s)
      return false;
  }
  if (slo.itl_s) {
    auto itl = r.mean_itl_s();
    if (itl && *itl > *slo.itl_s)
      return false;
  }
  return true;
}

double per_second(double amount, double duration_s) {
  return duration_s > 0.0 ? amount / duration_s : 0.0;
}

std::string latency_row(std::string_view name, const latency_stats& d) {
  if (d.count == 0)
    return fmt::format("  {:<18}{:>10}\n", name, "-");
  return fmt::format("  {:<18}{:>10.1f}{:>10.1f}{:>10.1f}{:>10.1f}{:>10.1f}{:>10}\n", name,
                     ms(d.mean), ms(d.p50), ms(d.p90), ms(d.p99), ms(d.max), d.count);
}

} // namespace

double percentile(std::span<const double> sorted, double p) noexcept {
  if (sorted.empty())
    return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<size_t>(std::floor(rank));
  auto hi = std::min(lo + 1, sorted.size() - 1);
  auto frac = rank - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

latency_stats describe_samples(std::vector<double> samples) {
  latency_stats d;
  if (samples.empty())
    return d;
  std::sort(samples.begin(), samples.end());
  d.count = samples.size();
  double sum = 0.0;
  for (auto x : samples)
    sum += x;
  d.mean = sum / static_cast<double>(samples.size());
  d.min = samples.front();
  d.max = samples.back();
  d.p50 = percentile(samples, 50.0);
  d.p90 = percentile(samples, 90.0);
  d.p99 = percentile(samples, 99.0);
  return d;
}

run_summary summarize_run(const run_result& run, const slo_config& slo) {
  run_summary s;
  s.requests = run.records.size();
  s.duration_s = run.duration_s;
  std::vector<double> ttft, ttft_send, queue, itl, itl_mean, e2e;
  for (const auto& r : run.records) {
    ++s.statuses[r.status];
    if (auto q = r.queue_s())
      queue.push_back(*q);
    if (r.has_usage) {
      s.prompt_tokens += r.prompt_tokens;
      s.cached_tokens += r.cached_tokens;
    }
    if (!r.ok()) {
      ++s.failed;
      ++s.failures[r.failure];
      continue;
    }
    ++s.succeeded;
    if (auto t = r.ttft_s())
      ttft.push_back(*t);
    if (auto t = r.ttft_from_send_s())
      ttft_send.push_back(*t);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    if (auto m = r.mean_itl_s())
      itl_mean.push_back(*m);
    e2e.push_back(r.e2e_s());
    s.output_tokens += r.output_tokens();
    s.input_tokens += r.prompt_len;
    if (meets(r, slo))
      ++s.good_requests;
  }
  s.ttft_s = describe_samples(std::move(ttft));
  s.ttft_from_send_s = describe_samples(std::move(ttft_send));
  s.queue_s = describe_samples(std::move(queue));
  s.itl_s = describe_samples(std::move(itl));
  s.itl_mean_s = describe_samples(std::move(itl_mean));
  s.e2e_s = describe_samples(std::move(e2e));
  s.request_throughput = per_second(static_cast<double>(s.succeeded), s.duration_s);
  s.output_token_throughput = per_second(static_cast<double>(s.output_tokens), s.duration_s);
  s.input_token_throughput = per_second(static_cast<double>(s.input_tokens), s.duration_s);
  s.goodput = per_second(static_cast<double>(s.good_requests), s.duration_s);
  s.good_fraction = s.requests > 0
                      ? static_cast<double>(s.good_requests) / static_cast<double>(s.requests)
                      : 0.0;
  if (s.prompt_tokens > 0)
    s.kv_hit_rate = static_cast<double>(s.cached_tokens) / static_cast<double>(s.prompt_tokens);
  return s;
}

std::string to_json(const run_result& run, const run_summary& s, const driver_config& cfg,
                    const report_options& opts) {
  json params = json::object();
  for (const auto& [key, value] : opts.workload_params)
    params[key] = value;
  json nvext = nullptr;
  if (!cfg.nvext_json.empty()) {
    auto parsed = json::parse(cfg.nvext_json, nullptr, false);
    if (!parsed.is_discarded())
      nvext = std::move(parsed);
  }
  json failures = json::object();
  for (const auto& [kind, count] : s.failures)
    failures[kind] = count;
  json statuses = json::object();
  for (const auto& [status, count] : s.statuses)
    statuses[std::to_string(status)] = count;
  json doc{
    {"schema", "dynamo-load/1"},
    {"workload",
     {{"name", run.workload_name}, {"requests", run.records.size()}, {"params", params}}},
    {"config",
     {{"url", cfg.url},
      {"endpoint", cfg.endpoint},
      {"model", cfg.model},
      {"mode", cfg.concurrency == 0 ? "open_loop" : "closed_loop"},
      {"concurrency", cfg.concurrency},
      {"speedup", cfg.speedup},
      {"max_connections", cfg.max_connections},
      {"timeout_s", cfg.timeout_s},
      {"nvext", std::move(nvext)}}},
    {"slo", {{"ttft_ms", optional_number(opts.slo.ttft_s, 1e3)},
             {"itl_ms", optional_number(opts.slo.itl_s, 1e3)}}},
    {"summary",
     {{"requests", s.requests},
      {"succeeded", s.succeeded},
      {"failed", s.failed},
      {"duration_s", s.duration_s},
      {"stopped", run.stopped},
      {"ttft_ms", latency_ms(s.ttft_s)},
      {"ttft_from_send_ms", latency_ms(s.ttft_from_send_s)},
      {"queue_ms", latency_ms(s.queue_s)},
      {"itl_ms", latency_ms(s.itl_s)},
      {"itl_mean_ms", latency_ms(s.itl_mean_s)},
      {"e2e_ms", latency_ms(s.e2e_s)},
      {"request_throughput_rps", s.request_throughput},
      {"output_token_throughput_tps", s.output_token_throughput},
      {"input_token_throughput_tps", s.input_token_throughput},
      {"output_tokens", s.output_tokens},
      {"input_tokens", s.input_tokens},
      {"goodput", {{"requests", s.good_requests}, {"rps", s.goodput},
                   {"fraction", s.good_fraction}}},
      {"kv", {{"prompt_tokens", s.prompt_tokens}, {"cached_tokens", s.cached_tokens},
              {"hit_rate", optional_number(s.kv_hit_rate)}}},
      {"failures", std::move(failures)},
      {"statuses", std::move(statuses)},
      {"client", {{"requests", run.client.requests},
                  {"connections_opened", run.client.connections_opened},
                  {"connections_reused", run.client.connections_reused},
                  {"retries", run.client.retries},
                  {"bytes_received", run.client.bytes_received}}}}},
  };
  if (opts.include_records) {
    json records = json::array();
    for (const auto& r : run.records)
      records.push_back(record_json(r));
    doc["records"] = std::move(records);
  }
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string format_table(const run_result& run, const run_summary& s, const driver_config& cfg,
                         const report_options& opts) {
  std::string out;
  auto it = std::back_inserter(out);
  auto mode = cfg.concurrency == 0 ? fmt::format("open loop, speedup {:g}", cfg.speedup)
                                   : fmt::format("closed loop, concurrency {}", cfg.concurrency);
  fmt::format_to(it, "workload     {} ({} requests; {}; {} connections max)\n",
                 run.workload_name.empty() ? "-" : run.workload_name, s.requests, mode,
                 cfg.max_connections);
  fmt::format_to(it, "requests     {} succeeded, {} failed in {:.2f} s{}\n", s.succeeded, s.failed,
                 s.duration_s, run.stopped ? " (stopped early)" : "");
  fmt::format_to(it, "  {:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "latency (ms)", "mean",
                 "p50", "p90", "p99", "max", "count");
  out += latency_row("TTFT", s.ttft_s);
  out += latency_row("TTFT from send", s.ttft_from_send_s);
  out += latency_row("queueing", s.queue_s);
  out += latency_row("ITL", s.itl_s);
  out += latency_row("ITL mean/request", s.itl_mean_s);
  out += latency_row("E2E", s.e2e_s);
  fmt::format_to(it, "throughput   {:.2f} req/s, {:.1f} output tok/s, {:.1f} input tok/s\n",
                 s.request_throughput, s.output_token_throughput, s.input_token_throughput);
  std::string bounds;
  if (opts.slo.ttft_s)
    bounds += fmt::format("TTFT <= {:g} ms", ms(*opts.slo.ttft_s));
  if (opts.slo.itl_s)
    bounds += fmt::format("{}ITL <= {:g} ms", bounds.empty() ? "" : ", ", ms(*opts.slo.itl_s));
  fmt::format_to(it, "goodput      {:.2f} req/s, {:.1f}% of requests ({})\n", s.goodput,
                 s.good_fraction * 100.0, bounds.empty() ? "no SLO given" : bounds);
  if (s.kv_hit_rate)
    fmt::format_to(it, "KV hit rate  {:.1f}% ({} of {} prompt tokens cached)\n",
                   *s.kv_hit_rate * 100.0, s.cached_tokens, s.prompt_tokens);
  else
    out += "KV hit rate  - (no usage reported)\n";
  if (!s.failures.empty()) {
    out += "failures    ";
    for (const auto& [kind, count] : s.failures)
      fmt::format_to(it, " {} {}", kind, count);
    out += '\n';
  }
  out += "statuses    ";
  for (const auto& [status, count] : s.statuses)
    fmt::format_to(it, " {} {}", status == 0 ? std::string{"none"} : std::to_string(status),
                   count);
  out += '\n';
  out += "TTFT, queueing and E2E are measured from the intended send time; \"TTFT from send\" "
         "from the actual send.\n";
  return out;
}

caf::error write_text_file(const std::string& path, std::string_view text) {
  auto tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f)
      return make_error(errc::unavailable, fmt::format("cannot write '{}'", tmp),
                        std::strerror(errno));
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.flush();
    if (!f)
      return make_error(errc::unavailable, fmt::format("cannot write '{}'", tmp),
                        std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    auto why = ec.message();
    std::filesystem::remove(tmp, ec);
    return make_error(errc::unavailable, fmt::format("cannot rename '{}' to '{}'", tmp, path),
                      why);
  }
  return caf::none;
}

} // namespace dynamo::workload
