// Benchmark (not a test): the global prefix index (dynamo::kv_router::prefix_index) at about 1M
// (worker, block) entries. Builds the index from realistic stored events (64 workers,
// conversations over 1000 shared-prefix groups, 16-token blocks hashed with engine::hash_blocks),
// then measures, as medians of repeated runs: events/s (stored + removed, 32 blocks per event)
// with one thread and with all threads (different workers per thread), find_matches queries/s
// (64-256 blocks from the same groups, so they hit) with one thread and all threads, a
// single-threaded std::unordered_map walk without locks doing the same queries (the baseline),
// events and queries concurrently (half the threads each), and the memory of the index.
// Prints a table and one JSON line on stdout; progress on stderr (TTY or --progress).
#include "dynamo/engine/block_hash.hpp"
#include "dynamo/kv_router/prefix_index.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using namespace dynamo;
using kv_router::prefix_index;
using kv_router::worker_key;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view usage = R"(usage: dynamo_bench_indexer [options]

Measures the global prefix index at ~1M (worker, block) entries: events/s and find_matches
queries/s with one thread and all threads, a lock-free single-threaded unordered_map baseline
doing the same queries, events and queries concurrently, and the index memory.

options:
  --blocks N     (worker, block) entries to index (default 1000000)
  --workers N    workers (default 64)
  --threads N    "all threads" (default: hardware concurrency)
  --seconds S    duration of each timed phase, split over the repetitions (default 2)
  --reps N       repetitions per phase; medians are reported (default 5)
  --groups N     shared-prefix groups (default 1000)
  --seed N       workload seed (default 1)
  --progress     progress line on stderr even when it is not a terminal
  --help         this text
)";

constexpr uint32_t block_size = 16;
constexpr size_t event_blocks = 32;

struct options {
  uint64_t blocks = 1'000'000;
  uint64_t workers = 64;
  uint64_t threads = std::max(1u, std::thread::hardware_concurrency());
  double seconds = 2.0;
  uint64_t reps = 5;
  uint64_t groups = 1000;
  uint64_t seed = 1;
  bool progress = false;
};

int usage_error(const std::string& what) {
  fmt::print(stderr, "dynamo_bench_indexer: {}\n(see dynamo_bench_indexer --help)\n", what);
  return 2;
}

/// Parses the command line; returns an exit code when the program should stop.
std::optional<int> parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage);
      return 0;
    }
    if (arg == "--progress") {
      o.progress = true;
      continue;
    }
    if (i + 1 >= argc)
      return usage_error(fmt::format("unknown option or missing value: {}", arg));
    std::string_view value = argv[++i];
    if (arg == "--seconds") {
      double s = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
      if (ec != std::errc{} || ptr != value.data() + value.size() || !(s > 0) || s > 3600)
        return usage_error(fmt::format("bad value for --seconds: '{}' (0 < S <= 3600)", value));
      o.seconds = s;
      continue;
    }
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size())
      return usage_error(fmt::format("bad value for {}: '{}'", arg, value));
    auto positive = [&](uint64_t& field, uint64_t max) -> std::optional<int> {
      if (n == 0 || n > max)
        return usage_error(fmt::format("{} must be in 1..{}, got {}", arg, max, n));
      field = n;
      return std::nullopt;
    };
    std::optional<int> err;
    if (arg == "--blocks")
      err = positive(o.blocks, uint64_t{1} << 32);
    else if (arg == "--workers")
      err = positive(o.workers, 1 << 16);
    else if (arg == "--threads")
      err = positive(o.threads, 1024);
    else if (arg == "--reps")
      err = positive(o.reps, 1000);
    else if (arg == "--groups")
      err = positive(o.groups, 1 << 20);
    else if (arg == "--seed")
      o.seed = n;
    else
      return usage_error(fmt::format("unknown option {}", arg));
    if (err)
      return err;
  }
  return std::nullopt;
}

class progress_line {
public:
  explicit progress_line(bool forced) : on_(forced || isatty(STDERR_FILENO) == 1) {
  }
  void show(std::string_view what) const {
    if (!on_)
      return;
    fmt::print(stderr, "\r\033[K[indexer-bench] {}", what);
    std::fflush(stderr);
  }
  void done() const {
    if (on_)
      fmt::print(stderr, "\r\033[K");
  }

private:
  bool on_;
};

uint64_t rss_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0;
  uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

/// A prompt: a group's system prompt followed by conversation-specific blocks.
struct conversation {
  engine::block_hashes hashes;
};

/// Conversations over shared-prefix groups: group g has a prefix of 16-64 blocks; each
/// conversation continues it to 64-256 blocks in total.
class workload {
public:
  workload(uint64_t groups, uint64_t seed) : groups_(groups), seed_(seed) {
  }

  conversation make(uint64_t id) const {
    std::mt19937_64 rng{seed_ * 0x9E3779B97F4A7C15ull + id};
    const uint64_t group = rng() % groups_;
    std::mt19937_64 group_rng{seed_ ^ (group * 0xC2B2AE3D27D4EB4Full)};
    const size_t prefix_blocks = 16 + group_rng() % 49;
    const size_t total_blocks = std::max<size_t>(prefix_blocks + 1, 64 + rng() % 193);
    std::vector<engine::token_id> tokens(total_blocks * block_size);
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = static_cast<engine::token_id>((i < prefix_blocks * block_size ? group_rng()
                                                                                : rng())
                                                % 128000);
    return conversation{engine::hash_blocks(tokens, block_size)};
  }

private:
  uint64_t groups_;
  uint64_t seed_;
};

/// Stored events for blocks [from, to) of `c`, in chunks of event_blocks.
void append_stored(std::vector<engine::kv_event>& out, const conversation& c, size_t from,
                   size_t to) {
  for (size_t at = from; at < to; at += event_blocks) {
    const size_t end = std::min(to, at + event_blocks);
    engine::kv_event ev;
    ev.type = engine::kv_event::kind::stored;
    ev.block_hashes.assign(c.hashes.sequence.begin() + static_cast<ptrdiff_t>(at),
                           c.hashes.sequence.begin() + static_cast<ptrdiff_t>(end));
    ev.token_hashes.assign(c.hashes.local.begin() + static_cast<ptrdiff_t>(at),
                           c.hashes.local.begin() + static_cast<ptrdiff_t>(end));
    if (at > 0)
      ev.parent_hash = c.hashes.sequence[at - 1];
    out.push_back(std::move(ev));
  }
}

/// Removed events for all blocks of `c`, leaves first, in chunks of event_blocks.
void append_removed(std::vector<engine::kv_event>& out, const conversation& c) {
  const auto& seq = c.hashes.sequence;
  for (size_t end = seq.size(); end > 0;) {
    const size_t begin = end > event_blocks ? end - event_blocks : 0;
    engine::kv_event ev;
    ev.type = engine::kv_event::kind::removed;
    ev.block_hashes.assign(seq.begin() + static_cast<ptrdiff_t>(begin),
                           seq.begin() + static_cast<ptrdiff_t>(end));
    out.push_back(std::move(ev));
    end = begin;
  }
}

/// The lock-free single-threaded baseline: hash -> workers (sorted), same walk as the index.
using baseline_map = std::unordered_map<uint64_t, std::vector<worker_key>>;

size_t baseline_match(const baseline_map& map, const std::vector<uint64_t>& query,
                      std::vector<std::pair<worker_key, uint32_t>>& active,
                      std::vector<std::pair<worker_key, uint32_t>>& done) {
  active.clear();
  done.clear();
  auto first = map.find(query[0]);
  if (first == map.end())
    return 0;
  for (auto w : first->second)
    active.emplace_back(w, 1);
  for (size_t i = 1; i < query.size() && !active.empty(); ++i) {
    auto it = map.find(query[i]);
    if (it == map.end())
      break;
    auto h = it->second.begin();
    size_t kept = 0;
    for (auto& a : active) {
      while (h != it->second.end() && *h < a.first)
        ++h;
      if (h != it->second.end() && *h == a.first) {
        ++a.second;
        active[kept++] = a;
      } else {
        done.push_back(a);
      }
    }
    active.resize(kept);
  }
  done.insert(done.end(), active.begin(), active.end());
  size_t sum = 0;
  for (const auto& d : done)
    sum += d.second;
  return sum;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.empty() ? 0.0 : xs[xs.size() / 2];
}

/// Per-thread operation counts of one timed run and its duration.
struct run_result {
  std::vector<uint64_t> counts;
  double seconds = 0;

  /// Operations per second of threads [first, last).
  double rate(size_t first, size_t last) const {
    uint64_t total = 0;
    for (size_t t = first; t < last; ++t)
      total += counts[t];
    return static_cast<double>(total) / seconds;
  }
};

/// Runs `work(thread, stop)` on `threads` threads for `seconds`. Each work function loops until
/// `stop` and returns how many operations it did.
template <class Work>
run_result timed(size_t threads, double seconds, Work work) {
  std::atomic<bool> stop{false};
  run_result res;
  res.counts.assign(threads, 0);
  std::vector<std::thread> pool;
  const auto start = clock_type::now();
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&work, &stop, &res, t] { res.counts[t] = work(t, stop); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& th : pool)
    th.join();
  res.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  return res;
}

std::string threads_label(size_t n) {
  return fmt::format("{} thread{}", n, n == 1 ? "" : "s");
}

/// Per-worker cyclic event streams that keep the index size steady (store a conversation,
/// then remove it), and a cursor per worker.
struct churn {
  std::vector<std::vector<engine::kv_event>> streams;
  std::vector<size_t> cursor;
  uint64_t blocks = 0;  ///< Blocks over all events (to report blocks/s).
  uint64_t events = 0;
};

/// Applies events of the workers w with w % stride == first, round-robin, until `stop`.
uint64_t ingest(prefix_index& index, churn& ch, size_t first, size_t stride,
                const std::atomic<bool>& stop) {
  uint64_t n = 0;
  const size_t workers = ch.streams.size();
  while (!stop.load(std::memory_order_relaxed)) {
    for (size_t w = first; w < workers; w += stride) {
      auto& stream = ch.streams[w];
      auto& at = ch.cursor[w];
      index.apply(w + 1, stream[at]);
      at = (at + 1) % stream.size();
      ++n;
    }
  }
  return n;
}

/// Runs queries from `queries` starting at `offset` until `stop`; returns how many.
uint64_t query(const prefix_index& index, const std::vector<std::vector<uint64_t>>& queries,
               size_t offset, const std::atomic<bool>& stop, std::atomic<uint64_t>& sink) {
  uint64_t n = 0;
  uint64_t depth = 0;
  for (size_t i = offset; !stop.load(std::memory_order_relaxed); ++i, ++n) {
    auto r = index.find_matches(queries[i % queries.size()]);
    for (const auto& o : r.overlaps)
      depth += o.blocks;
  }
  sink.fetch_add(depth, std::memory_order_relaxed);
  return n;
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse(argc, argv, opt))
    return *code;
  const progress_line progress{opt.progress};
  const double rep_seconds = opt.seconds / static_cast<double>(opt.reps);
  const size_t all = opt.threads;
  workload wl{opt.groups, opt.seed};

  // 1. Workload: each worker caches whole conversations until it holds its share of blocks.
  const uint64_t per_worker = std::max<uint64_t>(1, opt.blocks / opt.workers);
  const uint64_t pool_size = 64 + opt.blocks / 100;
  progress.show(fmt::format("hashing {} conversations", pool_size));
  std::vector<conversation> pool;
  pool.reserve(pool_size);
  for (uint64_t c = 0; c < pool_size; ++c)
    pool.push_back(wl.make(c));

  std::mt19937_64 rng{opt.seed};
  std::vector<std::vector<engine::kv_event>> build(opt.workers);
  for (worker_key w = 0; w < opt.workers; ++w) {
    uint64_t blocks = 0;
    std::unordered_set<uint64_t> mine;  // blocks shared by two conversations count once
    // Bounded: with few workers the pool's distinct blocks may not reach the share.
    for (size_t picks = 0; blocks < per_worker && picks < 16 * pool.size(); ++picks) {
      const auto& c = pool[rng() % pool.size()];
      size_t end = 0;
      for (; end < c.hashes.sequence.size() && blocks < per_worker; ++end)
        if (mine.insert(c.hashes.sequence[end]).second)
          ++blocks;
      append_stored(build[w], c, 0, end);
    }
  }
  // Queries: 3 in 4 are pool conversations (deep hits where a worker holds one), 1 in 4 new
  // conversations of the same groups (prefix hits only).
  std::vector<std::vector<uint64_t>> queries;
  for (uint64_t q = 0; q < 4096; ++q)
    queries.push_back(q % 4 == 3 ? wl.make(pool_size + 1'000'000 + q).hashes.sequence
                                 : pool[rng() % pool.size()].hashes.sequence);
  churn ch;
  ch.streams.resize(opt.workers);
  ch.cursor.assign(opt.workers, 0);
  for (worker_key w = 0; w < opt.workers; ++w)
    for (uint64_t k = 0; k < 2; ++k) {
      auto c = wl.make(pool_size + 2'000'000 + w * 2 + k);
      append_stored(ch.streams[w], c, 0, c.hashes.sequence.size());
      append_removed(ch.streams[w], c);
    }
  for (const auto& s : ch.streams)
    for (const auto& ev : s) {
      ch.blocks += ev.block_hashes.size();
      ++ch.events;
    }

  // 2. Build the index from the stored events (all threads, different workers per thread).
  progress.show("building the index");
  const uint64_t rss_before = rss_bytes();
  prefix_index index;
  const auto build_start = clock_type::now();
  {
    std::vector<std::thread> pool_threads;
    for (size_t t = 0; t < all; ++t)
      pool_threads.emplace_back([&index, &build, t, all] {
        for (size_t w = t; w < build.size(); w += all)
          for (const auto& ev : build[w])
            index.apply(w + 1, ev);
      });
    for (auto& th : pool_threads)
      th.join();
  }
  const double build_s = std::chrono::duration<double>(clock_type::now() - build_start).count();
  const uint64_t rss_after = rss_bytes();
  const auto built = index.stats();

  baseline_map baseline;
  for (size_t w = 0; w < build.size(); ++w)
    for (const auto& ev : build[w])
      for (auto h : ev.block_hashes) {
        auto& v = baseline[h];
        if (v.empty() || v.back() != w + 1)
          v.push_back(w + 1);  // workers are appended in increasing order: stays sorted
      }
  build.clear();

  // Sanity: the index and the baseline agree on every query.
  {
    std::vector<std::pair<worker_key, uint32_t>> active, done;
    for (const auto& q : queries) {
      size_t sum = 0;
      for (const auto& o : index.find_matches(q).overlaps)
        sum += o.blocks;
      if (sum != baseline_match(baseline, q, active, done)) {
        fmt::print(stderr, "dynamo_bench_indexer: index and baseline disagree\n");
        return 1;
      }
    }
  }
  double mean_depth = 0;
  double mean_workers = 0;
  double mean_query_blocks = 0;
  for (const auto& q : queries) {
    auto r = index.find_matches(q);
    mean_workers += static_cast<double>(r.overlaps.size());
    uint32_t best = 0;
    for (const auto& o : r.overlaps)
      best = std::max(best, o.blocks);
    mean_depth += best;
    mean_query_blocks += static_cast<double>(q.size());
  }
  mean_depth /= static_cast<double>(queries.size());
  mean_workers /= static_cast<double>(queries.size());
  mean_query_blocks /= static_cast<double>(queries.size());

  // 3. Timed phases. Every repetition runs all phases back to back, so that the index and the
  // baseline see the same machine load; medians over the repetitions are reported.
  std::atomic<uint64_t> sink{0};
  const size_t ingesters = std::max<size_t>(1, all / 2);
  const size_t queriers = std::max<size_t>(1, all - ingesters);
  auto index_queries = [&index, &queries, &sink](size_t t, const std::atomic<bool>& stop) {
    return query(index, queries, t * 997, stop, sink);
  };
  enum phase_id { q1, qb, qn, e1, en, me, mq, ratio, phase_count };
  std::array<std::vector<double>, phase_count> samples;
  for (uint64_t r = 0; r < opt.reps; ++r) {
    progress.show(fmt::format("repetition {}/{}: queries", r + 1, opt.reps));
    samples[q1].push_back(timed(1, rep_seconds, index_queries).rate(0, 1));
    samples[qb].push_back(
      timed(1, rep_seconds, [&baseline, &queries, &sink](size_t, const std::atomic<bool>& stop) {
        std::vector<std::pair<worker_key, uint32_t>> active, done;
        uint64_t n = 0;
        size_t depth = 0;
        for (size_t i = 0; !stop.load(std::memory_order_relaxed); ++i, ++n)
          depth += baseline_match(baseline, queries[i % queries.size()], active, done);
        sink.fetch_add(depth);
        return n;
      }).rate(0, 1));
    samples[ratio].push_back(samples[q1].back() / samples[qb].back());
    samples[qn].push_back(timed(all, rep_seconds, index_queries).rate(0, all));
    progress.show(fmt::format("repetition {}/{}: events", r + 1, opt.reps));
    samples[e1].push_back(
      timed(1, rep_seconds, [&index, &ch](size_t, const std::atomic<bool>& stop) {
        return ingest(index, ch, 0, 1, stop);
      }).rate(0, 1));
    samples[en].push_back(
      timed(all, rep_seconds, [&index, &ch, all](size_t t, const std::atomic<bool>& stop) {
        return ingest(index, ch, t, all, stop);
      }).rate(0, all));
    // Mixed: the first threads ingest (events of their workers), the others query.
    progress.show(fmt::format("repetition {}/{}: events + queries", r + 1, opt.reps));
    const auto mixed = timed(ingesters + queriers, rep_seconds,
                             [&](size_t t, const std::atomic<bool>& stop) -> uint64_t {
                               return t < ingesters ? ingest(index, ch, t, ingesters, stop)
                                                    : index_queries(t, stop);
                             });
    samples[me].push_back(mixed.rate(0, ingesters));
    samples[mq].push_back(mixed.rate(ingesters, ingesters + queriers));
  }
  progress.done();
  std::array<double, phase_count> med{};
  for (size_t p = 0; p < phase_count; ++p)
    med[p] = median(samples[p]);

  const double blocks_per_event = static_cast<double>(ch.blocks) / static_cast<double>(ch.events);
  const double rss_delta = static_cast<double>(rss_after) - static_cast<double>(rss_before);
  fmt::print("indexer_bench: {} entries ({} distinct hashes) over {} workers, {} groups, "
             "{} threads, {} reps x {:.2f} s, seed {}\n",
             built.entries, built.hashes, built.workers, opt.groups, all, opt.reps, rep_seconds,
             opt.seed);
  fmt::print("queries: {:.0f} blocks on average, best overlap {:.1f} blocks, {:.1f} workers "
             "matched; events: {:.1f} blocks on average, half stored, half removed\n",
             mean_query_blocks, mean_depth, mean_workers, blocks_per_event);
  fmt::print("{:<34} {:>14} {:>14}\n", "phase", "1 thread", threads_label(all));
  fmt::print("{:<34} {:>14.0f} {:>14.0f}\n", "events/s (apply)", med[e1], med[en]);
  fmt::print("{:<34} {:>14.0f} {:>14.0f}\n", "  blocks/s", med[e1] * blocks_per_event,
             med[en] * blocks_per_event);
  fmt::print("{:<34} {:>14.0f} {:>14.0f}\n", "queries/s (find_matches)", med[q1], med[qn]);
  fmt::print("{:<34} {:>14.0f} {:>14}\n", "baseline queries/s (map, no locks)", med[qb], "-");
  fmt::print("{:<34} {:>14.2f} {:>14}\n", "index / baseline (queries)", med[ratio], "-");
  fmt::print("{:<34} {:>14} {:>14.0f}\n",
             fmt::format("mixed events/s ({})", threads_label(ingesters)), "-", med[me]);
  fmt::print("{:<34} {:>14} {:>14.0f}\n",
             fmt::format("mixed queries/s ({})", threads_label(queriers)), "-", med[mq]);
  fmt::print("build: {:.2f} s ({:.0f} events/s)\n", build_s,
             static_cast<double>(built.entries) / blocks_per_event / build_s);
  fmt::print("memory: estimate {:.1f} MiB ({:.0f} B/entry), RSS delta {:.1f} MiB ({:.0f} "
             "B/entry)\n",
             static_cast<double>(built.memory_bytes) / (1 << 20),
             static_cast<double>(built.memory_bytes) / static_cast<double>(built.entries),
             rss_delta / (1 << 20), rss_delta / static_cast<double>(built.entries));
  fmt::print("{{\"bench\":\"indexer\",\"entries\":{},\"hashes\":{},\"workers\":{},\"threads\":{},"
             "\"events_per_s_1\":{:.0f},\"events_per_s_all\":{:.0f},\"blocks_per_event\":{:.1f},"
             "\"queries_per_s_1\":{:.0f},\"queries_per_s_all\":{:.0f},"
             "\"baseline_queries_per_s\":{:.0f},\"index_over_baseline\":{:.3f},"
             "\"mixed_events_per_s\":{:.0f},\"mixed_queries_per_s\":{:.0f},"
             "\"query_blocks\":{:.1f},\"best_overlap_blocks\":{:.1f},\"memory_bytes\":{},"
             "\"rss_delta_bytes\":{:.0f},\"build_s\":{:.3f},\"seed\":{}}}\n",
             built.entries, built.hashes, built.workers, all, med[e1], med[en], blocks_per_event,
             med[q1], med[qn], med[qb], med[ratio], med[me], med[mq], mean_query_blocks,
             mean_depth, built.memory_bytes, rss_delta,
             build_s, opt.seed);
  return 0;
}
