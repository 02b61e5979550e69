// dynamo-cpu-bench: measures, in one run, this machine's memory bandwidth, the matmul kernel
// against OpenBLAS, and the reference engine's prefill and decode throughput on a checkpoint,
// with decode's share of the bandwidth bound. Progress on stderr, a table on stdout, and
// optionally a JSON file.
#include "measure.hpp"

#include "dynamo/error.hpp"
#include "dynamo/log.hpp"
#include "dynamo/model/checkpoint.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view usage = R"(usage: dynamo-cpu-bench --model DIR [options]

Measures memory bandwidth, our matmul against OpenBLAS, prefill tokens/s and decode tokens/s
of the reference engine (fp32) on the checkpoint in DIR. Medians of repeated runs.

options:
  --model DIR         Hugging Face checkpoint directory
  --threads N         compute threads (default: one per CPU)
  --json FILE         also write the results as JSON
  --repeats N         samples per measurement (default 3)
  --prefill LIST      prefill lengths (default 512,2048)
  --batches LIST      decode batch sizes (default 1,8,32)
  --context N         cached positions per decode sequence (default 512)
  --steps N           timed decode steps per batch size (default 8)
  --bandwidth-mib N   buffer of the bandwidth test (default 1024)
  --matmul-ms LIST    token counts of the matmul comparison (default 1,8,32,512; 0 skips it)
  --help              this text
)";

struct options {
  std::string model;
  std::string json;
  uint32_t threads = 0;
  uint32_t repeats = 3;
  std::vector<uint32_t> prefill{512, 2048};
  std::vector<uint32_t> batches{1, 8, 32};
  uint32_t context = 512;
  uint32_t steps = 8;
  uint32_t bandwidth_mib = 1024;
  std::vector<uint32_t> matmul_ms{1, 8, 32, 512};
};

int usage_error(const std::string& what) {
  fmt::print(stderr, "dynamo-cpu-bench: {}\n(see dynamo-cpu-bench --help)\n", what);
  return 2;
}

std::optional<uint32_t> parse_u32(std::string_view s) {
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::optional<std::vector<uint32_t>> parse_list(std::string_view s) {
  std::vector<uint32_t> out;
  for (;;) {
    auto comma = s.find(',');
    auto v = parse_u32(s.substr(0, comma));
    if (!v)
      return std::nullopt;
    if (*v > 0)
      out.push_back(*v);
    if (comma == std::string_view::npos)
      return out;
    s.remove_prefix(comma + 1);
  }
}

std::optional<int> parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage);
      return 0;
    }
    if (i + 1 >= argc)
      return usage_error(fmt::format("unknown option or missing value: {}", arg));
    std::string_view value = argv[++i];
    auto bad = [arg, value] {
      return usage_error(fmt::format("bad value for {}: '{}'", arg, value));
    };
    if (arg == "--model") {
      o.model = value;
    } else if (arg == "--json") {
      o.json = value;
    } else if (arg == "--prefill" || arg == "--batches" || arg == "--matmul-ms") {
      auto list = parse_list(value);
      if (!list)
        return bad();
      (arg == "--prefill" ? o.prefill : arg == "--batches" ? o.batches : o.matmul_ms) = *list;
    } else {
      auto n = parse_u32(value);
      if (!n)
        return bad();
      if (arg == "--threads")
        o.threads = *n;
      else if (arg == "--repeats" && *n > 0)
        o.repeats = *n;
      else if (arg == "--context" && *n > 0)
        o.context = *n;
      else if (arg == "--steps" && *n > 0)
        o.steps = *n;
      else if (arg == "--bandwidth-mib" && *n > 0)
        o.bandwidth_mib = *n;
      else
        return usage_error(fmt::format("unknown option {} (or bad value {})", arg, value));
    }
  }
  if (o.model.empty())
    return usage_error("--model is required");
  return std::nullopt;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    else
      out += c;
  }
  return out;
}

void progress(const std::string& what) {
  fmt::print(stderr, "\r\033[K[cpu-bench] {}", what);
  std::fflush(stderr);
}

} // namespace

int main(int argc, char** argv) {
  using namespace dynamo;
  options o;
  if (auto rc = parse(argc, argv, o))
    return *rc;
  auto log = default_logger("cpu-bench");
  log->set_level(spdlog::level::warn);
  auto ckpt = model::open_checkpoint(o.model);
  if (!ckpt) {
    fmt::print(stderr, "dynamo-cpu-bench: {}\n", describe(ckpt.error()));
    return 1;
  }
  const auto& cfg = ckpt->config;
  uint32_t max_len = 0;
  for (auto len : o.prefill)
    max_len = std::max(max_len, len);
  uint32_t max_batch = 0;
  for (auto b : o.batches)
    max_batch = std::max(max_batch, b);
  if (std::max(max_len, o.context + o.steps + 1) > cfg.max_position_embeddings)
    return usage_error(fmt::format("the model supports {} positions", cfg.max_position_embeddings));
  reference::runner_options ro;
  ro.threads = o.threads;
  ro.block_size = 16;
  uint64_t per_seq = (o.context + o.steps + 1 + ro.block_size - 1) / ro.block_size;
  ro.kv_blocks = std::max<uint64_t>({1, (max_len + ro.block_size - 1) / ro.block_size,
                                     per_seq * max_batch});
  progress("loading the model");
  auto runner = reference::model_runner::load(*ckpt, ro, log);
  if (!runner) {
    fmt::print(stderr, "\ndynamo-cpu-bench: {}\n", describe(runner.error()));
    return 1;
  }
  uint32_t threads = (*runner)->threads();

  double bandwidth = cpu_bench::measure_bandwidth(threads, size_t{o.bandwidth_mib} << 20,
                                                  std::max(o.repeats, 3u), progress);
  std::vector<size_t> ms(o.matmul_ms.begin(), o.matmul_ms.end());
  std::vector<cpu_bench::matmul_result> mm;
  if (!ms.empty())
    mm = cpu_bench::compare_matmul(threads, 2 * size_t{cfg.intermediate_size}, cfg.hidden_size,
                                   ms, o.repeats, progress);
  auto prefill = cpu_bench::measure_prefill(**runner, o.prefill, o.repeats, progress);
  auto decode = cpu_bench::measure_decode(**runner, o.batches, o.context, o.steps, progress);
  fmt::print(stderr, "\r\033[K");

  std::string out;
  auto line = [&out](std::string s) { out += s + "\n"; };
  line(fmt::format("model       {} ({} layers, hidden {}, intermediate {}, vocab {}), fp32 "
                   "weights {:.1f} MiB",
                   cfg.architecture, cfg.num_hidden_layers, cfg.hidden_size,
                   cfg.intermediate_size, cfg.vocab_size,
                   cpu_bench::weight_bytes(cfg) / (1 << 20)));
  line(fmt::format("threads     {}", threads));
  line(fmt::format("bandwidth   {:.2f} GB/s (read, {} MiB buffer)", bandwidth / 1e9,
                   o.bandwidth_mib));
  if (!mm.empty()) {
    line(fmt::format("\n{:<28} {:>14} {:>16} {:>8}", "matmul Y=X*W^T", "ours GFLOP/s",
                     "OpenBLAS GFLOP/s", "winner"));
    for (const auto& r : mm) {
      double flops = 2.0 * r.m * r.n * r.k;
      std::string blas = r.blas_s > 0 ? fmt::format("{:.1f}", flops / r.blas_s / 1e9) : "n/a";
      const char* winner = r.blas_s <= 0 ? "ours" : r.ours_s <= r.blas_s ? "ours" : "OpenBLAS";
      line(fmt::format("{:<28} {:>14.1f} {:>16} {:>8}",
                       fmt::format("m={} n={} k={}", r.m, r.n, r.k), flops / r.ours_s / 1e9,
                       blas, winner));
    }
  }
  line(fmt::format("\n{:<28} {:>14} {:>12}", "prefill", "tokens/s", "s/call"));
  for (const auto& r : prefill)
    line(fmt::format("{:<28} {:>14.1f} {:>12.3f}", fmt::format("{} tokens", r.tokens),
                     r.tokens / r.seconds, r.seconds));
  line(fmt::format("\n{:<28} {:>14} {:>12} {:>12} {:>10}", "decode", "tokens/s", "ms/step",
                   "GB/s", "of bound"));
  for (const auto& r : decode) {
    double gbs = r.bytes_per_step / r.step_seconds / 1e9;
    line(fmt::format("{:<28} {:>14.1f} {:>12.2f} {:>12.2f} {:>9.0f}%",
                     fmt::format("batch {} (context {})", r.batch, r.context),
                     r.batch / r.step_seconds, r.step_seconds * 1e3, gbs,
                     100.0 * gbs * 1e9 / bandwidth));
  }
  std::fputs(out.c_str(), stdout);

  if (!o.json.empty()) {
    std::string j = "{\n";
    j += fmt::format("  \"model\": \"{}\", \"architecture\": \"{}\", \"threads\": {},\n",
                     json_escape(o.model), cfg.architecture, threads);
    j += fmt::format("  \"weight_bytes\": {:.0f}, \"bandwidth_bytes_per_s\": {:.0f},\n",
                     cpu_bench::weight_bytes(cfg), bandwidth);
    j += "  \"matmul\": [";
    for (size_t i = 0; i < mm.size(); ++i)
      j += fmt::format("{}{{\"m\": {}, \"n\": {}, \"k\": {}, \"ours_s\": {:.6g}, "
                       "\"openblas_s\": {:.6g}}}",
                       i ? ", " : "", mm[i].m, mm[i].n, mm[i].k, mm[i].ours_s, mm[i].blas_s);
    j += "],\n  \"prefill\": [";
    for (size_t i = 0; i < prefill.size(); ++i)
      j += fmt::format("{}{{\"tokens\": {}, \"seconds\": {:.6g}, \"tokens_per_s\": {:.6g}}}",
                       i ? ", " : "", prefill[i].tokens, prefill[i].seconds,
                       prefill[i].tokens / prefill[i].seconds);
    j += "],\n  \"decode\": [";
    for (size_t i = 0; i < decode.size(); ++i) {
      const auto& r = decode[i];
      double bps = r.bytes_per_step / r.step_seconds;
      j += fmt::format("{}{{\"batch\": {}, \"context\": {}, \"step_seconds\": {:.6g}, "
                       "\"tokens_per_s\": {:.6g}, \"bytes_per_step\": {:.0f}, "
                       "\"bandwidth_fraction\": {:.4f}}}",
                       i ? ", " : "", r.batch, r.context, r.step_seconds,
                       r.batch / r.step_seconds, r.bytes_per_step, bps / bandwidth);
    }
    j += "]\n}\n";
    std::ofstream f{o.json};
    f << j;
    if (!f) {
      fmt::print(stderr, "dynamo-cpu-bench: cannot write {}\n", o.json);
      return 1;
    }
  }
  return 0;
}
