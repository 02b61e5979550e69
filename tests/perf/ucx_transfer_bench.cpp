// Benchmark (not a test): data-plane bandwidth between two processes over UCX (or two agents of
// one process over the in-process backend), next to a plain memcpy of the same bytes in the
// same run. A forked child owns a UCX-allocated region and only progresses; the parent writes
// (put) and reads (get) blocks of 4 KiB ... 64 MiB, one block per transfer, with 1, 4 and 16
// transfers in flight, moving a fixed number of bytes per round. Reports the median GB/s
// (1e9 B/s) over the rounds and the ratio to memcpy.
#include "dynamo/error.hpp"
#include "dynamo/plane/data.hpp"
#include "dynamo/plane/inproc_data.hpp"
#include "dynamo/ucx/ucx_data.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace dynamo;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string backend = "ucx";
  size_t rounds = 5;
  uint64_t round_bytes = 256ull << 20;
  uint64_t region_bytes = 128ull << 20;
  std::string json;
};

/// Transfers per round at most (small blocks would otherwise take minutes at depth 1).
constexpr uint64_t max_transfers_per_round = 4096;

/// Transfers of `block` bytes in one round.
uint64_t transfers_per_round(uint64_t block, size_t depth, const options& opt) {
  return std::max<uint64_t>(std::min(opt.round_bytes / block, max_transfers_per_round), depth);
}

struct row {
  std::string dir;
  uint64_t block = 0;
  size_t depth = 0;
  double gbps = 0;
  double memcpy_gbps = 0;
};

constexpr uint64_t block_sizes[] = {4ull << 10, 64ull << 10, 1ull << 20,
                                    4ull << 20, 16ull << 20, 64ull << 20};
constexpr size_t depths[] = {1, 4, 16};

void usage() {
  std::puts(
    "dynamo_bench_ucx_transfer: data-plane bandwidth vs block size and transfers in flight\n"
    "\n"
    "  --backend ucx|inproc   ucx: two processes over UCX (default); inproc: two agents of one\n"
    "                         process over the in-process backend\n"
    "  --rounds N             rounds per cell; the median is reported (default 5)\n"
    "  --round-mib N          bytes moved per round, MiB (default 256); a round has at most\n"
    "                         4096 and at least <in flight> transfers\n"
    "  --json FILE            also write the results as JSON\n"
    "  --help                 this text\n"
    "\n"
    "GB/s is 1e9 bytes per second; memcpy copies the same bytes in the same block size\n"
    "between two private buffers of this process.");
}

bool parse_size(std::string_view text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out > 0;
}

std::string human(uint64_t bytes) {
  if (bytes >= (1ull << 20))
    return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} KiB", bytes >> 10);
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

/// Counts completions so that the sender keeps `depth` transfers in flight.
struct window {
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  size_t failed = 0;
  std::string first_error;

  std::function<void(caf::error)> callback() {
    return [this](caf::error err) {
      {
        std::lock_guard guard{mu};
        --in_flight;
        if (err && failed++ == 0)
          first_error = describe(err);
      }
      cv.notify_all();
    };
  }
};

/// One round: moves round_bytes as transfers of `block` bytes, `depth` in flight; seconds.
double transfer_round(data_plane& agent, uint64_t local, const region_descriptor& remote,
                      transfer_direction dir, uint64_t block, size_t depth,
                      const options& opt) {
  auto count = transfers_per_round(block, depth, opt);
  auto slots = opt.region_bytes / block;
  window w;
  auto start = clock_type::now();
  for (uint64_t i = 0; i < count; ++i) {
    {
      std::unique_lock lk{w.mu};
      w.cv.wait(lk, [&w, depth] { return w.in_flight < depth; });
      ++w.in_flight;
    }
    auto off = (i % slots) * block;
    auto id = agent.transfer(dir, local, remote, {{off, off, block}}, w.callback());
    if (!id) {
      std::fprintf(stderr, "transfer refused: %s\n", describe(id.error()).c_str());
      std::exit(1);
    }
  }
  std::unique_lock lk{w.mu};
  w.cv.wait(lk, [&w] { return w.in_flight == 0; });
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  if (w.failed != 0) {
    std::fprintf(stderr, "%zu transfers failed, first: %s\n", w.failed, w.first_error.c_str());
    std::exit(1);
  }
  return static_cast<double>(count * block) / secs / 1e9;
}

double memcpy_round(std::vector<std::byte>& src, std::vector<std::byte>& dst, uint64_t block,
                    size_t depth, const options& opt) {
  auto count = transfers_per_round(block, depth, opt);
  auto slots = opt.region_bytes / block;
  auto start = clock_type::now();
  for (uint64_t i = 0; i < count; ++i) {
    auto off = (i % slots) * block;
    std::memcpy(dst.data() + off, src.data() + off, block);
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  return static_cast<double>(count * block) / secs / 1e9;
}

std::vector<row> run_all(data_plane& agent, uint64_t local, const region_descriptor& remote,
                         const options& opt) {
  std::vector<std::byte> src(opt.region_bytes, std::byte{1});
  std::vector<std::byte> dst(opt.region_bytes, std::byte{0});
  std::vector<row> rows;
  size_t cells = std::size(block_sizes) * std::size(depths) * 2;
  size_t done = 0;
  for (auto dir : {transfer_direction::write, transfer_direction::read}) {
    for (auto block : block_sizes) {
      for (auto depth : depths) {
        auto name = dir == transfer_direction::write ? "put" : "get";
        std::fprintf(stderr, "\r[%zu/%zu] %s %s x%zu          ", ++done, cells, name,
                     human(block).c_str(), depth);
        std::vector<double> xs;
        std::vector<double> ms;
        transfer_round(agent, local, remote, dir, block, depth, opt); // warm-up
        for (size_t r = 0; r < opt.rounds; ++r) {
          xs.push_back(transfer_round(agent, local, remote, dir, block, depth, opt));
          ms.push_back(memcpy_round(src, dst, block, depth, opt));
        }
        rows.push_back({name, block, depth, median(xs), median(ms)});
      }
    }
  }
  std::fprintf(stderr, "\n");
  return rows;
}

void report(const std::vector<row>& rows, const options& opt) {
  fmt::print("backend {}, {} rounds of {} per cell, median GB/s (1e9 B/s)\n\n", opt.backend,
             opt.rounds, human(opt.round_bytes));
  fmt::print("| op | block | in flight | GB/s | memcpy GB/s | ratio |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    fmt::print("| {} | {} | {} | {:.2f} | {:.2f} | {:.2f} |\n", r.dir, human(r.block), r.depth,
               r.gbps, r.memcpy_gbps, r.gbps / r.memcpy_gbps);
  if (opt.json.empty())
    return;
  std::ofstream out{opt.json};
  out << "{\"backend\":\"" << opt.backend << "\",\"rounds\":" << opt.rounds
      << ",\"round_bytes\":" << opt.round_bytes << ",\"results\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << (i == 0 ? "" : ",")
        << fmt::format("{{\"op\":\"{}\",\"block_bytes\":{},\"in_flight\":{},\"gbps\":{:.4f},"
                       "\"memcpy_gbps\":{:.4f},\"ratio\":{:.4f}}}",
                       r.dir, r.block, r.depth, r.gbps, r.memcpy_gbps, r.gbps / r.memcpy_gbps);
  }
  out << "]}\n";
  if (!out)
    std::fprintf(stderr, "could not write %s\n", opt.json.c_str());
}

/// The child: owns a UCX-allocated region, announces it on `out_fd`, progresses until `in_fd`
/// says stop.
[[noreturn]] void child_main(int in_fd, int out_fd, const options& opt) {
  ucx::ucx_options uo;
  uo.agent = "bench-owner";
  auto agent = ucx::make_ucx_agent(uo);
  if (!agent) {
    std::fprintf(stderr, "child: %s\n", describe(agent.error()).c_str());
    ::_exit(2);
  }
  auto region = (*agent)->allocate_region(opt.region_bytes);
  if (!region) {
    std::fprintf(stderr, "child: %s\n", describe(region.error()).c_str());
    ::_exit(3);
  }
  auto line = encode_descriptor(region->descriptor) + "\n";
  if (::write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    ::_exit(4);
  char c = 0;
  [[maybe_unused]] auto n = ::read(in_fd, &c, 1);
  agent->reset();
  ::_exit(0);
}

int run_ucx(const options& opt) {
  int down[2];
  int up[2];
  if (::pipe(down) != 0 || ::pipe(up) != 0)
    return 1;
  auto pid = ::fork();
  if (pid == 0) {
    ::close(down[1]);
    ::close(up[0]);
    child_main(down[0], up[1], opt);
  }
  ::close(down[0]);
  ::close(up[1]);
  std::string line;
  char c = 0;
  while (::read(up[0], &c, 1) == 1 && c != '\n')
    line += c;
  auto remote = decode_descriptor(line);
  if (!remote) {
    std::fprintf(stderr, "no descriptor from the child: %s\n", describe(remote.error()).c_str());
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return 1;
  }
  ucx::ucx_options uo;
  uo.agent = "bench-initiator";
  auto agent = ucx::make_ucx_agent(uo);
  if (!agent) {
    std::fprintf(stderr, "%s\n", describe(agent.error()).c_str());
    return 1;
  }
  auto local = (*agent)->allocate_region(opt.region_bytes);
  if (!local) {
    std::fprintf(stderr, "%s\n", describe(local.error()).c_str());
    return 1;
  }
  auto rows = run_all(**agent, local->descriptor.region_id, *remote, opt);
  agent->reset();
  [[maybe_unused]] auto n = ::write(down[1], "x", 1);
  ::waitpid(pid, nullptr, 0);
  report(rows, opt);
  return 0;
}

int run_inproc(const options& opt) {
  auto fabric = make_inproc_fabric();
  auto owner = fabric->make_agent("bench-owner");
  auto initiator = fabric->make_agent("bench-initiator");
  auto remote = owner->allocate_region(opt.region_bytes);
  auto local = initiator->allocate_region(opt.region_bytes);
  if (!remote || !local) {
    std::fprintf(stderr, "allocation failed\n");
    return 1;
  }
  auto rows = run_all(*initiator, local->descriptor.region_id, remote->descriptor, opt);
  report(rows, opt);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&i, argc, argv, arg]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%.*s needs a value\n", static_cast<int>(arg.size()), arg.data());
        std::exit(2);
      }
      return argv[++i];
    };
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (arg == "--backend") {
      opt.backend = value();
      if (opt.backend != "ucx" && opt.backend != "inproc") {
        std::fprintf(stderr, "--backend must be ucx or inproc\n");
        return 2;
      }
    } else if (arg == "--rounds" && parse_size(value(), n)) {
      opt.rounds = n;
    } else if (arg == "--round-mib" && parse_size(value(), n) && n < (1ull << 20)) {
      opt.round_bytes = n << 20;
    } else if (arg == "--json") {
      opt.json = value();
    } else {
      std::fprintf(stderr, "bad argument %s (see --help)\n", argv[i]);
      return 2;
    }
  }
  return opt.backend == "ucx" ? run_ucx(opt) : run_inproc(opt);
}
