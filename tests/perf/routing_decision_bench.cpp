// Benchmark (not a test): latency of one KV-aware routing decision with a large prefix index.
// Fills a prefix_index with about --blocks (worker, block) entries over --workers workers in
// prefix groups (16-token blocks), then routes synthetic prompts that share a random part of a
// group's prefix, timing each stage of kv_scheduler's decision: hashing the prompt, the index's
// find_matches, selection + load tracking (schedule_matched), and the finish that drops a request
// --inflight decisions later (so the load tracker holds a steady set of active requests).
// Reports p50/p99/p99.9 and decisions per wall and per CPU second as medians over --reps
// repetitions, each stage's share of the time (means of samples up to the stage's p99, so that
// preemption by other processes does not decide the split), a table on stdout and one JSON line.
#include "dynamo/engine/block_hash.hpp"
#include "dynamo/error.hpp"
#include "dynamo/kv_router/kv_scheduler.hpp"
#include "dynamo/kv_router/prefix_index.hpp"

#include <fmt/format.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace dynamo;
using kv_router::clock;

constexpr std::string_view usage = R"(usage: dynamo_bench_routing_decision [options]

Times kv_scheduler's routing decision (hash + find_matches + select/track + finish) against a
prefix index of about --blocks entries over --workers workers. Medians over --reps repetitions.

options:
  --workers N          workers (default 64)
  --blocks N           (worker, block) entries to index (default 1000000)
  --prompt-blocks A..B prompt length range in 16-token blocks (default 64..256)
  --seconds S          timed seconds per repetition (default 2)
  --reps N             repetitions, at least 5 (default 5)
  --inflight N         active requests kept tracked; each is finished N decisions after its
                       routing (default 512; 0 finishes each right after)
  --seed N             workload seed (default 1)
  --progress           progress line on stderr even when it is not a terminal
  --help               this text
)";

constexpr uint32_t block_size = 16;
constexpr uint32_t vocab = 32000;

struct options {
  uint32_t workers = 64;
  uint64_t blocks = 1'000'000;
  uint32_t min_blocks = 64;
  uint32_t max_blocks = 256;
  double seconds = 2.0;
  uint32_t reps = 5;
  uint32_t inflight = 512;
  uint64_t seed = 1;
  bool progress = false;
};

int usage_error(const std::string& what) {
  fmt::print(stderr, "dynamo_bench_routing_decision: {}\n(see --help)\n", what);
  return 2;
}

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return v;
}

/// Parses the command line; returns an exit code when the program should stop (0 for --help).
std::optional<int> parse(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage);
      return 0;
    }
    if (arg == "--progress") {
      opt.progress = true;
      continue;
    }
    constexpr std::array<std::string_view, 7> valued{"--workers", "--blocks", "--prompt-blocks",
                                                     "--seconds", "--reps",    "--inflight",
                                                     "--seed"};
    if (std::find(valued.begin(), valued.end(), arg) == valued.end())
      return usage_error(fmt::format("unknown option '{}'", arg));
    if (i + 1 >= argc)
      return usage_error(fmt::format("{} needs a value", arg));
    const std::string_view value = argv[++i];
    auto bad = [&arg, &value] {
      return usage_error(fmt::format("invalid value '{}' for {}", value, arg));
    };
    if (arg == "--workers") {
      auto v = parse_number<uint32_t>(value);
      if (!v || *v == 0)
        return bad();
      opt.workers = *v;
    } else if (arg == "--blocks") {
      auto v = parse_number<uint64_t>(value);
      if (!v || *v == 0)
        return bad();
      opt.blocks = *v;
    } else if (arg == "--prompt-blocks") {
      auto dots = value.find("..");
      auto lo = parse_number<uint32_t>(value.substr(0, dots));
      auto hi =
        dots == std::string_view::npos ? lo : parse_number<uint32_t>(value.substr(dots + 2));
      if (!lo || !hi || *lo == 0 || *lo > *hi || *hi > 65536)
        return bad();
      opt.min_blocks = *lo;
      opt.max_blocks = *hi;
    } else if (arg == "--seconds") {
      auto v = parse_number<double>(value);
      if (!v || !(*v > 0.0) || *v > 3600.0)
        return bad();
      opt.seconds = *v;
    } else if (arg == "--reps") {
      auto v = parse_number<uint32_t>(value);
      if (!v || *v < 5 || *v > 1000)
        return usage_error(fmt::format("--reps must be in [5, 1000], got '{}'", value));
      opt.reps = *v;
    } else if (arg == "--inflight") {
      auto v = parse_number<uint32_t>(value);
      if (!v)
        return bad();
      opt.inflight = *v;
    } else {  // --seed
      auto v = parse_number<uint64_t>(value);
      if (!v)
        return bad();
      opt.seed = *v;
    }
  }
  return std::nullopt;
}

/// A system prompt shared by the requests of one group.
struct prefix_group {
  std::vector<engine::token_id> tokens;
};

std::vector<engine::token_id> random_tokens(std::mt19937_64& gen, size_t n) {
  std::vector<engine::token_id> out(n);
  for (auto& t : out)
    t = static_cast<engine::token_id>(gen() % vocab);
  return out;
}

/// Fills `index` with opt.blocks entries: groups of max_blocks-block prefixes, each held
/// by 1 to 8 random workers to a random depth of at least a quarter of it.
std::vector<prefix_group> fill(kv_router::prefix_index& index, const options& opt,
                               std::mt19937_64& gen) {
  std::vector<prefix_group> groups;
  uint64_t entries = 0;
  std::uniform_int_distribution<uint32_t> holders(1, std::min(8u, opt.workers));
  std::uniform_int_distribution<kv_router::worker_key> worker(1, opt.workers);
  while (entries < opt.blocks) {
    prefix_group g;
    g.tokens = random_tokens(gen, size_t{opt.max_blocks} * block_size);
    const auto hashes = engine::hash_blocks(g.tokens, block_size).sequence;
    const uint32_t k = holders(gen);
    for (uint32_t i = 0; i < k && entries < opt.blocks; ++i) {
      std::uniform_int_distribution<size_t> depth(std::max<size_t>(1, hashes.size() / 4),
                                                  hashes.size());
      const auto n = std::min<uint64_t>(depth(gen), opt.blocks - entries);
      index.insert(worker(gen), std::span{hashes}.first(n));
      entries += n;
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

/// A prompt: a random share (half to all) of a random group's prefix, then fresh tokens, up to
/// a random whole number of blocks plus a partial block.
std::vector<engine::token_id> make_prompt(const std::vector<prefix_group>& groups,
                                          const options& opt, std::mt19937_64& gen) {
  const auto& g = groups[gen() % groups.size()];
  std::uniform_int_distribution<uint32_t> len(opt.min_blocks, opt.max_blocks);
  const uint32_t blocks = len(gen);
  std::uniform_int_distribution<uint32_t> share(blocks / 2, blocks);
  const size_t shared = size_t{share(gen)} * block_size;
  std::vector<engine::token_id> out(g.tokens.begin(),
                                    g.tokens.begin() + std::min(shared, g.tokens.size()));
  const size_t total = size_t{blocks} * block_size + gen() % block_size;
  auto rest = random_tokens(gen, total - out.size());
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

enum stage : size_t { hash_stage, match_stage, select_stage, finish_stage, stage_count };
constexpr std::array<std::string_view, stage_count> stage_names{"hash", "find_matches",
                                                               "select+track", "finish"};

/// Latency summary of one sample set, in microseconds.
struct summary {
  double p50 = 0, p99 = 0, p999 = 0, mean = 0;
  double trimmed = 0;  ///< Mean of the samples up to p99: robust to preemption spikes.
};

summary summarize(std::vector<double>& xs) {
  summary s;
  if (xs.empty())
    return s;
  std::sort(xs.begin(), xs.end());
  auto at = [&xs](double p) {
    return xs[std::min(xs.size() - 1, static_cast<size_t>(p * static_cast<double>(xs.size())))];
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  double sum = 0;
  double trimmed_sum = 0;
  size_t trimmed_n = 0;
  for (auto x : xs) {
    sum += x;
    if (x <= s.p99) {
      trimmed_sum += x;
      ++trimmed_n;
    }
  }
  s.mean = sum / static_cast<double>(xs.size());
  s.trimmed = trimmed_sum / static_cast<double>(std::max<size_t>(trimmed_n, 1));
  return s;
}

/// One repetition's results.
struct rep_result {
  summary total;
  std::array<summary, stage_count> stages;
  double decisions_per_s = 0;      ///< Per wall-clock second.
  double decisions_per_cpu_s = 0;  ///< Per second of this thread's CPU time.
  uint64_t decisions = 0;
  double mean_overlap = 0;
};

/// This thread's CPU time in seconds (immune to preemption by other processes).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// The 1-minute load average, or -1 if /proc/loadavg cannot be read.
double load_average() {
  double x = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &x) != 1)
      x = -1;
    std::fclose(f);
  }
  return x;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

class bench {
public:
  bench(const options& opt, const kv_router::prefix_index& index,
        const std::vector<prefix_group>& groups)
    : opt_(opt), index_(index), groups_(groups), gen_(opt.seed ^ 0x5eed),
      sched_(kv_router::kv_scheduler_config{}, index, opt.seed) {
    for (kv_router::worker_key w = 1; w <= opt.workers; ++w)
      sched_.add_worker(w, 1 << 20);
    // A pool of prompts, generated outside the timed region and reused round-robin.
    for (int i = 0; i < 1024; ++i)
      prompts_.push_back(make_prompt(groups_, opt_, gen_));
  }

  /// Routes for `seconds`; `show` reports progress.
  template <class Show>
  caf::expected<rep_result> run(double seconds, Show&& show) {
    std::array<std::vector<double>, stage_count> samples;
    std::vector<double> totals;
    uint64_t overlap_sum = 0;
    const double cpu_start = thread_cpu_seconds();
    const auto start = clock::now();
    const auto stop = start + std::chrono::duration_cast<clock::duration>(
                                std::chrono::duration<double>(seconds));
    auto next_show = start;
    auto us = [](clock::time_point a, clock::time_point b) {
      return std::chrono::duration<double, std::micro>(b - a).count();
    };
    for (;;) {
      const auto& prompt = prompts_[next_id_ % prompts_.size()];
      const uint64_t id = next_id_++;
      const auto t0 = clock::now();
      const auto hashes = engine::hash_blocks(prompt, block_size).sequence;
      const auto t1 = clock::now();
      const auto matches = index_.find_matches(hashes);
      const auto t2 = clock::now();
      auto d = sched_.schedule_matched(id, hashes, matches, static_cast<uint32_t>(prompt.size()),
                                       256, {}, {}, t2);
      const auto t3 = clock::now();
      if (!d)
        return std::move(d.error());
      inflight_.push_back(id);
      while (inflight_.size() > opt_.inflight) {
        sched_.finish(inflight_.front());
        inflight_.pop_front();
      }
      const auto t4 = clock::now();
      samples[hash_stage].push_back(us(t0, t1));
      samples[match_stage].push_back(us(t1, t2));
      samples[select_stage].push_back(us(t2, t3));
      samples[finish_stage].push_back(us(t3, t4));
      totals.push_back(us(t0, t4));
      overlap_sum += d->overlap_blocks;
      if (t4 >= stop)
        break;
      if (t4 >= next_show) {
        show(std::chrono::duration<double>(t4 - start).count(), totals.size());
        next_show = t4 + std::chrono::milliseconds{250};
      }
    }
    rep_result r;
    r.decisions = totals.size();
    r.decisions_per_s = static_cast<double>(r.decisions)
                        / std::chrono::duration<double>(clock::now() - start).count();
    r.decisions_per_cpu_s = static_cast<double>(r.decisions) / (thread_cpu_seconds() - cpu_start);
    r.mean_overlap = static_cast<double>(overlap_sum) / static_cast<double>(r.decisions);
    r.total = summarize(totals);
    for (size_t s = 0; s < stage_count; ++s)
      r.stages[s] = summarize(samples[s]);
    return r;
  }

  /// Mean prompt length of the pool, in blocks.
  double mean_prompt_blocks() const {
    double sum = 0;
    for (const auto& p : prompts_)
      sum += static_cast<double>(p.size() / block_size);
    return sum / static_cast<double>(prompts_.size());
  }

private:
  const options& opt_;
  const kv_router::prefix_index& index_;
  const std::vector<prefix_group>& groups_;
  std::mt19937_64 gen_;
  kv_router::kv_scheduler sched_;
  std::vector<std::vector<engine::token_id>> prompts_;
  std::deque<uint64_t> inflight_;
  uint64_t next_id_ = 1;
};

} // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse(argc, argv, opt))
    return *code;
  const bool progress = opt.progress || isatty(STDERR_FILENO) == 1;

  std::mt19937_64 gen{opt.seed};
  kv_router::prefix_index index;
  if (progress)
    fmt::print(stderr, "filling the index with {} entries...", opt.blocks);
  const auto fill_start = clock::now();
  const auto groups = fill(index, opt, gen);
  const double fill_s = std::chrono::duration<double>(clock::now() - fill_start).count();
  const auto stats = index.stats();
  if (progress)
    fmt::print(stderr, "\r\033[K");

  bench b{opt, index, groups};
  // Warm-up: caches, allocator, the tracker's steady state.
  auto warm = b.run(std::min(0.5, opt.seconds), [](double, size_t) {});
  if (!warm) {
    fmt::print(stderr, "routing failed: {}\n", describe(warm.error()));
    return 1;
  }
  std::vector<rep_result> reps;
  for (uint32_t rep = 0; rep < opt.reps; ++rep) {
    auto r = b.run(opt.seconds, [&progress, &opt, rep](double secs, size_t n) {
      if (progress)
        fmt::print(stderr, "\r\033[Krep {}/{}  {:.1f}/{:.1f} s  {} decisions", rep + 1, opt.reps,
                   secs, opt.seconds, n);
    });
    if (!r) {
      fmt::print(stderr, "\nrouting failed: {}\n", describe(r.error()));
      return 1;
    }
    reps.push_back(*r);
  }
  if (progress)
    fmt::print(stderr, "\r\033[K");

  auto med = [&reps](auto field) {
    std::vector<double> xs;
    for (const auto& r : reps)
      xs.push_back(field(r));
    return median(xs);
  };
  const double p50 = med([](const rep_result& r) { return r.total.p50; });
  const double p99 = med([](const rep_result& r) { return r.total.p99; });
  const double p999 = med([](const rep_result& r) { return r.total.p999; });
  const double mean = med([](const rep_result& r) { return r.total.mean; });
  const double rate = med([](const rep_result& r) { return r.decisions_per_s; });
  const double cpu_rate = med([](const rep_result& r) { return r.decisions_per_cpu_s; });
  const double load = load_average();
  const double overlap = med([](const rep_result& r) { return r.mean_overlap; });
  std::array<summary, stage_count> st;
  double stage_mean_sum = 0;
  for (size_t s = 0; s < stage_count; ++s) {
    st[s].p50 = med([s](const rep_result& r) { return r.stages[s].p50; });
    st[s].p99 = med([s](const rep_result& r) { return r.stages[s].p99; });
    st[s].p999 = med([s](const rep_result& r) { return r.stages[s].p999; });
    st[s].mean = med([s](const rep_result& r) { return r.stages[s].mean; });
    st[s].trimmed = med([s](const rep_result& r) { return r.stages[s].trimmed; });
    stage_mean_sum += st[s].trimmed;
  }
  uint64_t decisions = 0;
  for (const auto& r : reps)
    decisions += r.decisions;

  fmt::print("routing_decision_bench: {} workers, {} index entries ({} hashes, {:.1f} MiB, filled "
             "in {:.1f} s), prompts {}..{} blocks (mean {:.0f}) of {} tokens, mean overlap {:.1f} "
             "blocks, {} in flight\n",
             opt.workers, stats.entries, stats.hashes,
             static_cast<double>(stats.memory_bytes) / (1 << 20), fill_s, opt.min_blocks,
             opt.max_blocks, b.mean_prompt_blocks(), block_size, overlap, opt.inflight);
  fmt::print("{} repetitions x {:.1f} s, {} decisions; medians over repetitions, microseconds\n",
             opt.reps, opt.seconds, decisions);
  fmt::print("{:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n", "stage", "p50", "p99", "p99.9",
             "mean", "mean<=p99", "share");
  for (size_t s = 0; s < stage_count; ++s)
    fmt::print("{:<14} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>6.1f}%\n", stage_names[s],
               st[s].p50, st[s].p99, st[s].p999, st[s].mean, st[s].trimmed,
               100.0 * st[s].trimmed / stage_mean_sum);
  fmt::print("{:<14} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f}\n", "decision", p50, p99, p999, mean);
  fmt::print("share = each stage's mean of samples up to its p99 (preemption spikes excluded)\n");
  fmt::print("decisions/s (one thread): {:.0f} per wall second, {:.0f} per CPU second "
             "(1-min load average {:.2f} on {} CPUs)\n",
             rate, cpu_rate, load, std::thread::hardware_concurrency());

  std::string stages_json;
  for (size_t s = 0; s < stage_count; ++s)
    stages_json += fmt::format(
      R"({}"{}":{{"p50_us":{:.3f},"p99_us":{:.3f},"p999_us":{:.3f},"mean_us":{:.3f},)"
      R"("trimmed_mean_us":{:.3f},"share":{:.4f}}})",
      s == 0 ? "" : ",", stage_names[s], st[s].p50, st[s].p99, st[s].p999, st[s].mean,
      st[s].trimmed, st[s].trimmed / stage_mean_sum);
  fmt::print(R"({{"bench":"routing_decision","workers":{},"index_entries":{},)"
             R"("index_memory_bytes":{},"prompt_blocks":[{},{}],"block_size":{},"inflight":{},)"
             R"("reps":{},"seconds":{},"decisions":{},"mean_overlap_blocks":{:.2f},)"
             R"("p50_us":{:.3f},"p99_us":{:.3f},"p999_us":{:.3f},"mean_us":{:.3f},)"
             R"("decisions_per_s":{:.0f},"decisions_per_cpu_s":{:.0f},"load_average":{:.2f},)"
             R"("stages":{{{}}}}})"
             "\n",
             opt.workers, stats.entries, stats.memory_bytes, opt.min_blocks, opt.max_blocks,
             block_size, opt.inflight, opt.reps, opt.seconds, decisions, overlap, p50, p99, p999,
             mean, rate, cpu_rate, load, stages_json);
  return 0;
}
