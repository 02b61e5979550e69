// Benchmark (not a test): the in-process request path router -> workers with the mocker at a
// speedup high enough that simulated compute is ~0, so the numbers measure the runtime's own
// overhead. Closed-loop clients at concurrency 1, 64 and 512 report requests/s and p50/p99
// latency. Baseline in the same run: the bare mocker engine driven in a plain loop (no actors,
// no messages) with the same requests, so the ratio shows what the actor path costs.
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/mocker/mocker_engine.hpp"
#include "dynamo/runner.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <numeric>

namespace {

using namespace dynamo;
using namespace dynamo::actors;
using clock_type = std::chrono::steady_clock;

struct options {
  std::vector<size_t> concurrency = {1, 64, 512};
  size_t requests = 20000;
  size_t workers = 2;
  size_t threads = 2;
  uint32_t prompt_tokens = 32;
  uint32_t max_tokens = 8;
  double speedup = 1e9;
  std::string json;
};

struct result {
  size_t concurrency = 0;
  double seconds = 0;
  size_t completed = 0;
  size_t failed = 0;
  double p50_us = 0;
  double p99_us = 0;
  double rps() const { return completed / seconds; }
};

struct shared_results {
  std::mutex mtx;
  std::vector<double> latencies_us;
  std::atomic<size_t> issued{0};
  std::atomic<size_t> completed{0};
  std::atomic<size_t> failed{0};
  size_t total = 0;
};

generate_request make_request(uint64_t id, const options& opt) {
  generate_request req;
  req.id = id;
  req.model = "mock-model";
  req.tokens.resize(opt.prompt_tokens);
  for (uint32_t i = 0; i < opt.prompt_tokens; ++i)
    req.tokens[i] = 32 + static_cast<uint32_t>((id * 31 + i * 7) % 90);
  req.stop.max_tokens = opt.max_tokens;
  req.stop.ignore_eos = true;
  return req;
}

struct client_state {
  clock_type::time_point sent;
  std::vector<double> local;
  static inline const char* name = "bench_client";
};

/// A closed-loop client: one request at a time, next one when the stream ends.
caf::behavior client(caf::stateful_actor<client_state>* self, generate_actor target,
                     shared_results* out, options opt, uint64_t id_base) {
  auto next = [self, target, out, opt, id_base] {
    auto n = out->issued.fetch_add(1);
    if (n >= out->total) {
      std::lock_guard<std::mutex> guard{out->mtx};
      out->latencies_us.insert(out->latencies_us.end(), self->state.local.begin(),
                               self->state.local.end());
      self->quit();
      return;
    }
    self->state.sent = clock_type::now();
    self->request(target, caf::infinite, generate_atom::value, make_request(id_base + n, opt),
                  caf::actor_cast<token_sink_actor>(self))
      .then([](const generate_summary&) {}, [out](const caf::error&) { ++out->failed; });
  };
  next();
  return {
    [](stream_item_atom, request_id, const token_chunk&) {},
    [self, out, next](stream_end_atom, request_id) {
      auto us = std::chrono::duration<double, std::micro>(clock_type::now() - self->state.sent);
      self->state.local.push_back(us.count());
      ++out->completed;
      next();
    },
    [out, next](stream_fail_atom, request_id, const caf::error&) {
      ++out->failed;
      next();
    },
  };
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty())
    return 0;
  auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

result run_actor_path(const options& opt, size_t concurrency) {
  runtime_config rc;
  rc.threads = opt.threads;
  rc.log_level = "warn";
  rc.seed = 7;
  runtime rt{rc};
  graph g{"bench"};
  worker_config wc;
  wc.mocker.speedup_ratio = opt.speedup;
  wc.scheduler.max_num_seqs = 1024;
  wc.scheduler.max_waiting = 100000;
  auto workers = g.add<mocker_worker>("worker", wc, opt.workers);
  auto r = g.add<router>("router");
  static_cast<void>(r);
  g.connect(r, workers);
  graph_runner runner{rt, g};
  if (auto err = runner.start()) {
    std::fprintf(stderr, "start failed: %s\n", describe(err).c_str());
    std::exit(1);
  }
  auto router_hdl = caf::actor_cast<generate_actor>(runner.instances_of("router").front().handle);
  // Wait until the router sees every worker.
  caf::scoped_actor self{rt.system()};
  auto stats_hdl = caf::actor_cast<router_actor>(runner.instances_of("router").front().handle);
  testing::wait_until(
    [&] {
      size_t n = 0;
      self->request(stats_hdl, std::chrono::seconds{1}, stats_atom::value)
        .receive([&n](const router_stats& s) { n = s.workers.size(); }, [](const caf::error&) {});
      return n == opt.workers;
    },
    std::chrono::seconds{10});
  shared_results out;
  out.total = opt.requests;
  out.latencies_us.reserve(opt.requests);
  auto t0 = clock_type::now();
  for (size_t c = 0; c < concurrency; ++c) {
    auto hdl = rt.system().spawn(client, router_hdl, &out, opt, uint64_t{c} << 40);
    self->monitor(hdl);
  }
  size_t down = 0;
  auto last_print = t0;
  while (down < concurrency) {
    self->receive([&down](const caf::down_msg&) { ++down; },
                  caf::after(std::chrono::milliseconds{250}) >> [] {});
    auto now = clock_type::now();
    if (now - last_print > std::chrono::milliseconds{500}) {
      last_print = now;
      std::fprintf(stderr, "\r  c=%-4zu %zu/%zu requests", concurrency, out.completed.load(),
                   opt.requests);
    }
  }
  auto seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::fprintf(stderr, "\r%60s\r", "");
  runner.stop();
  result res;
  res.concurrency = concurrency;
  res.seconds = seconds;
  res.completed = out.completed;
  res.failed = out.failed;
  res.p50_us = percentile(out.latencies_us, 0.50);
  res.p99_us = percentile(out.latencies_us, 0.99);
  return res;
}

/// Baseline: the same requests through a bare engine loop, `concurrency` sequences in flight.
result run_engine_loop(const options& opt, size_t concurrency) {
  mocker::mocker_config mc;
  mc.speedup_ratio = opt.speedup;
  mc.max_num_seqs = 1024;
  mc.max_waiting = 100000;
  mocker::mocker_engine eng{mc, default_logger("bench")};
  std::vector<clock_type::time_point> sent(opt.requests);
  std::vector<double> lat;
  lat.reserve(opt.requests);
  size_t issued = 0;
  size_t done = 0;
  auto admit = [&] {
    auto req = make_request(issued, opt);
    engine::sequence_request seq{req.id, std::move(req.tokens), req.sampling, req.stop};
    sent[issued] = clock_type::now();
    if (eng.admit(std::move(seq)))
      std::exit(1);
    ++issued;
  };
  auto t0 = clock_type::now();
  while (issued < std::min(concurrency, opt.requests))
    admit();
  while (done < opt.requests) {
    auto step = eng.step();
    for (const auto& o : step.outputs)
      if (o.finish != engine::finish_reason::none) {
        ++done;
        lat.push_back(
          std::chrono::duration<double, std::micro>(clock_type::now() - sent[o.id]).count());
        if (issued < opt.requests)
          admit();
      }
  }
  result res;
  res.concurrency = concurrency;
  res.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  res.completed = done;
  res.p50_us = percentile(lat, 0.5);
  res.p99_us = percentile(lat, 0.99);
  return res;
}

} // namespace

int main(int argc, char** argv, char** envp) {
  options opt;
  option_set opts{"Request-path benchmark: router -> mocker workers in one process, "
                  "closed-loop clients; baseline = bare engine loop in the same run."};
  std::vector<std::string> conc{"1", "64", "512"};
  opts.add(conc, "concurrency", "comma-separated client counts");
  opts.add(opt.requests, "requests", "requests per concurrency level");
  opts.add(opt.workers, "workers", "worker replicas");
  opts.add(opt.threads, "threads", "actor scheduler threads");
  opts.add(opt.prompt_tokens, "prompt-tokens", "prompt length");
  opts.add(opt.max_tokens, "max-tokens", "generated tokens per request");
  opts.add(opt.speedup, "speedup", "mocker speedup ratio");
  opts.add(opt.json, "json", "also write results to this JSON file");
  if (auto err = opts.parse(argc, argv, environment_from(envp))) {
    std::fprintf(stderr, "error: %s\n", client_message(err).c_str());
    return 2;
  }
  if (opts.help_requested()) {
    std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  opt.concurrency.clear();
  for (const auto& c : conc)
    opt.concurrency.push_back(std::stoul(c));
  std::printf("| concurrency | actor path req/s | p50 µs | p99 µs | engine loop req/s | ratio | "
              "failed |\n|---|---|---|---|---|---|---|\n");
  std::string json = "[";
  for (auto c : opt.concurrency) {
    auto base = run_engine_loop(opt, c);
    auto act = run_actor_path(opt, c);
    std::printf("| %zu | %.0f | %.0f | %.0f | %.0f | %.2f | %zu |\n", c, act.rps(), act.p50_us,
                act.p99_us, base.rps(), act.rps() / base.rps(), act.failed);
    std::fflush(stdout);
    json += fmt::format("{}{{\"concurrency\":{},\"rps\":{:.1f},\"p50_us\":{:.1f},\"p99_us\":{:.1f},"
                        "\"engine_loop_rps\":{:.1f},\"failed\":{}}}",
                        json.size() > 1 ? "," : "", c, act.rps(), act.p50_us, act.p99_us,
                        base.rps(), act.failed);
  }
  json += "]\n";
  if (!opt.json.empty())
    if (auto* f = std::fopen(opt.json.c_str(), "w")) {
      std::fputs(json.c_str(), f);
      std::fclose(f);
    }
  return 0;
}
