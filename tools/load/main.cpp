// dynamo-load: replays a Mooncake trace or a generated workload against an OpenAI-compatible
// frontend with streaming requests and reports TTFT/ITL/E2E percentiles, throughput, goodput and
// the KV hit rate seen by clients (a table on stdout, JSON with --out).
#include "options.hpp"

#include "dynamo/error.hpp"
#include "dynamo/log.hpp"
#include "dynamo/workload/http_stream.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <variant>

namespace {

using namespace dynamo;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr int exit_signal = 130;

int usage_failure(const std::string& message) {
  fmt::print(stderr, "dynamo-load: {}\n(see dynamo-load --help)\n", message);
  return exit_usage;
}

int failure(const std::string& message) {
  fmt::print(stderr, "dynamo-load: {}\n", message);
  return exit_failure;
}

/// The client message, with the operator detail in parentheses when there is one.
std::string explain(const caf::error& err) {
  auto detail = operator_detail(err);
  auto message = client_message(err);
  return detail.empty() ? message : fmt::format("{} ({})", message, detail);
}

caf::expected<workload::workload> load_workload(const load_tool::options& opts) {
  if (opts.source.is_trace()) {
    auto replayed = workload::load_mooncake(opts.source.trace, opts.source.replay);
    if (!replayed)
      return std::move(replayed.error());
    if (replayed->truncated_records > 0)
      fmt::print(stderr, "dynamo-load: dropped surplus hash ids of {} trace records\n",
                 replayed->truncated_records);
    return std::move(replayed->w);
  }
  return workload::generate(opts.source.generator);
}

/// Stops the driver on SIGINT/SIGTERM (a second signal exits at once). The signals are blocked
/// in every thread and taken here with sigtimedwait, so no handler or global state is needed.
class signal_watch {
public:
  explicit signal_watch(workload::driver& drv) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this, d = &drv] { watch(*d); });
  }

  ~signal_watch() {
    done_ = true;
    thread_.join();
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }

  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

  /// The signal that stopped the run, 0 when none.
  int caught() const noexcept {
    return caught_.load();
  }

private:
  void watch(workload::driver& drv) {
    while (!done_.load()) {
      timespec wait{0, 100'000'000};
      int sig = sigtimedwait(&set_, nullptr, &wait);
      if (sig <= 0)
        continue;
      if (caught_.exchange(sig) != 0)
        std::_Exit(128 + sig);
      fmt::print(stderr, "\ndynamo-load: stopping; in-flight requests are cancelled (signal "
                         "again to abort)\n");
      drv.stop();
    }
  }

  sigset_t set_{};
  std::atomic<bool> done_{false};
  std::atomic<int> caught_{0};
  std::thread thread_;
};

} // namespace

int main(int argc, char** argv) {
  auto parsed = load_tool::parse_options(argc, argv);
  if (std::holds_alternative<load_tool::show_help>(parsed)) {
    fmt::print("{}", load_tool::usage());
    return 0;
  }
  if (auto* err = std::get_if<load_tool::usage_error>(&parsed))
    return usage_failure(err->message);
  auto& opts = std::get<load_tool::options>(parsed);
  auto log = default_logger("dynamo-load");
  log->set_level(spdlog::level::from_str(opts.log_level));
  opts.driver.log = log;

  auto w = load_workload(opts);
  if (!w)
    return usage_failure(client_message(w.error()));
  if (w->requests.empty())
    return usage_failure("the workload has no requests");

  auto drv = workload::driver::make(opts.driver);
  if (!drv) {
    if (classify(drv.error()) == errc::invalid_request)
      return usage_failure(client_message(drv.error()));
    return failure(fmt::format("endpoint unreachable: {}", explain(drv.error())));
  }
  auto url = workload::parse_url((*drv)->config().url);
  if (!url)
    return usage_failure(client_message(url.error()));
  auto timeout = std::chrono::milliseconds{
    static_cast<int64_t>(std::ceil(opts.connect_timeout_s * 1e3))};
  if (auto err = workload::check_reachable(*url, timeout))
    return failure(fmt::format("endpoint unreachable: {}", explain(err)));

  const auto& cfg = (*drv)->config();
  fmt::print(stderr, "dynamo-load: {} requests of '{}' against {}{} ({})\n", w->requests.size(),
             w->name, cfg.url, cfg.endpoint,
             cfg.concurrency == 0 ? fmt::format("open loop, speedup {:g}", cfg.speedup)
                                  : fmt::format("closed loop, concurrency {}", cfg.concurrency));
  int caught = 0;
  auto run = [&caught, d = drv->get(), wl = &*w] {
    signal_watch signals{*d};
    auto result = d->run(*wl);
    caught = signals.caught();
    return result;
  }();
  if (!run)
    return usage_failure(client_message(run.error()));

  auto summary = workload::summarize_run(*run, opts.slo);
  workload::report_options report;
  report.slo = opts.slo;
  report.include_records = opts.records;
  report.workload_params = opts.source.params;
  fmt::print("{}", workload::format_table(*run, summary, cfg, report));
  std::fflush(stdout);
  if (opts.out) {
    if (auto err = workload::write_text_file(*opts.out,
                                             workload::to_json(*run, summary, cfg, report)))
      return failure(describe(err));
    fmt::print(stderr, "dynamo-load: wrote {}\n", *opts.out);
  }
  return caught != 0 ? exit_signal : 0;
}
