// Benchmark (not a test): the Cap'n Proto request plane against the in-process plane, in the
// same run. Two capnp planes in one process talk over loopback TCP (a caller plane and a callee
// plane), so every call crosses the kj <-> CAF bridge twice and the network stack once each way.
// Reports the round-trip latency (p50/p99) of a generate call whose handler streams one token
// and replies at once, and the streamed token rate of a handler that sends one token per chunk as fast as it
// can (chunks may merge under flow control: the rate counts tokens), with the capnp/inproc ratio.
#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/wire/generate_binding.hpp"
#include "dynamo/capnp/requests.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/inproc_requests.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace dynamo;
using namespace dynamo::actors;
using clock_type = std::chrono::steady_clock;

struct options {
  size_t calls = 5000;       // unary round trips per plane
  uint32_t tokens = 200000;  // tokens in the streamed request
  size_t threads = 2;
};

struct result {
  double p50_us = 0;
  double p99_us = 0;
  double tokens_per_s = 0;
  size_t chunks = 0;
};

/// Streams max_tokens one-token chunks, ends the stream, replies the summary.
generate_actor::behavior_type streaming_handler(generate_actor::pointer self, uint64_t instance) {
  return {
    [self, instance](generate_atom, generate_request& req, token_sink_actor& sink) {
      for (uint32_t i = 0; i < req.stop.max_tokens; ++i) {
        auto finish = i + 1 == req.stop.max_tokens ? engine::finish_reason::length
                                                   : engine::finish_reason::none;
        self->send(sink, stream_item_atom::value, req.id, token_chunk{{i}, finish, 1, 0});
      }
      self->send(sink, stream_end_atom::value, req.id);
      return generate_summary{instance, 1, 0, req.stop.max_tokens, engine::finish_reason::length};
    },
    [](cancel_atom, request_id, cancel_kind) {},
  };
}

double percentile(std::vector<double>& xs, double p) {
  std::sort(xs.begin(), xs.end());
  return xs[std::min(xs.size() - 1, static_cast<size_t>(p * static_cast<double>(xs.size())))];
}

/// Runs both measurements against `hdl`.
result measure(caf::actor_system& sys, const generate_actor& hdl, const options& opt) {
  result res;
  caf::scoped_actor self{sys};
  auto sink = caf::actor_cast<token_sink_actor>(self);
  std::vector<double> lat;
  lat.reserve(opt.calls);
  for (size_t i = 0; i < opt.calls + 100; ++i) {
    generate_request req;
    req.id = i + 1;
    req.model = "bench";
    req.tokens = {1, 2, 3, 4};
    req.stop.max_tokens = 1;
    auto start = clock_type::now();
    bool ok = false;
    self->request(hdl, std::chrono::seconds{10}, generate_atom::value, req, sink)
      .receive([&ok](generate_summary&) { ok = true; },
               [](caf::error& err) { fmt::print(stderr, "call failed: {}\n", describe(err)); });
    // The stream (one token, then its end) precedes the reply.
    bool ended = false;
    self->receive_while([&ended] { return !ended; })(
      [](stream_item_atom, request_id, token_chunk&) {},
      [&ended](stream_end_atom, request_id) { ended = true; },
      [&ended](stream_fail_atom, request_id, caf::error&) { ended = true; },
      caf::after(std::chrono::seconds{10}) >> [&ended] { ended = true; });
    if (ok && i >= 100)  // the first calls warm up connections and caches
      lat.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
  }
  if (!lat.empty()) {
    res.p50_us = percentile(lat, 0.50);
    res.p99_us = percentile(lat, 0.99);
  }
  generate_request big;
  big.id = 1'000'000;
  big.model = "bench";
  big.stop.max_tokens = opt.tokens;
  auto start = clock_type::now();
  self->send(hdl, generate_atom::value, big, sink);
  size_t tokens = 0;
  bool done = false;
  self->receive_while([&done] { return !done; })(
    [&tokens, &res](stream_item_atom, request_id, token_chunk& c) {
      tokens += c.tokens.size();
      ++res.chunks;
    },
    [&done](stream_end_atom, request_id) { done = true; },
    [&done](stream_fail_atom, request_id, caf::error& err) {
      fmt::print(stderr, "stream failed: {}\n", describe(err));
      done = true;
    },
    [](generate_summary&) {},
    caf::after(std::chrono::seconds{30}) >> [&done] { done = true; });
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  res.tokens_per_s = static_cast<double>(tokens) / secs;
  if (tokens != opt.tokens)
    fmt::print(stderr, "stream delivered {} of {} tokens\n", tokens, opt.tokens);
  return res;
}

bool parse(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; ++i) {
    auto arg = std::string{argv[i]};
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (arg == "--calls")
      opt.calls = std::stoul(next());
    else if (arg == "--tokens")
      opt.tokens = static_cast<uint32_t>(std::stoul(next()));
    else if (arg == "--threads")
      opt.threads = std::stoul(next());
    else {
      std::puts("usage: dynamo_bench_rpc [--calls N] [--tokens N] [--threads N]\n"
                "  unary generate round trips (p50/p99) and streamed tokens/s,\n"
                "  Cap'n Proto over loopback vs the in-process request plane");
      return false;
    }
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  if (!parse(argc, argv, opt))
    return 1;
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", opt.threads);
  caf::actor_system sys{cfg};
  instance_endpoint address{endpoint_id{"bench", "worker", "generate"}, instance_id{1}};
  auto handler = sys.spawn(streaming_handler, uint64_t{1});

  auto inproc = make_inproc_requests(sys);
  if (auto err = inproc->serve(address, caf::actor_cast<caf::actor>(handler)); err) {
    fmt::print(stderr, "inproc serve: {}\n", describe(err));
    return 1;
  }
  auto local = connect_as<generate_actor>(*inproc, address);

  dynamo::capnp::request_options server_opts;
  server_opts.bindings["generate"] = wire::generate_binding();
  auto server = dynamo::capnp::make_requests(sys, server_opts);
  if (!server) {
    fmt::print(stderr, "capnp server: {}\n", describe(server.error()));
    return 1;
  }
  dynamo::capnp::request_options client_opts;
  client_opts.bindings["generate"] = wire::generate_binding();
  client_opts.resolve = [peer = (*server)->advertised_address()](const instance_endpoint&) {
    return caf::expected<std::string>{peer};
  };
  auto client = dynamo::capnp::make_requests(sys, client_opts);
  if (!client || (*server)->serve(address, caf::actor_cast<caf::actor>(handler))) {
    fmt::print(stderr, "capnp planes could not start\n");
    return 1;
  }
  auto remote = connect_as<generate_actor>(**client, address);
  if (!local || !remote) {
    fmt::print(stderr, "connect failed\n");
    return 1;
  }

  auto a = measure(sys, *local, opt);
  auto b = measure(sys, *remote, opt);
  fmt::print("rpc_bench: {} unary calls, {} streamed tokens, {} scheduler threads\n", opt.calls,
             opt.tokens, opt.threads);
  fmt::print("{:<10} {:>12} {:>12} {:>14} {:>10}\n", "plane", "p50 (us)", "p99 (us)",
             "tokens/s", "chunks");
  fmt::print("{:<10} {:>12.1f} {:>12.1f} {:>14.0f} {:>10}\n", "inproc", a.p50_us, a.p99_us,
             a.tokens_per_s, a.chunks);
  fmt::print("{:<10} {:>12.1f} {:>12.1f} {:>14.0f} {:>10}\n", "capnp", b.p50_us, b.p99_us,
             b.tokens_per_s, b.chunks);
  fmt::print("{:<10} {:>12.1f} {:>12.1f} {:>14.3f}\n", "ratio", b.p50_us / a.p50_us,
             b.p99_us / a.p99_us, b.tokens_per_s / a.tokens_per_s);

  (*client)->shutdown();
  (*server)->shutdown();
  inproc.reset();
  caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
  return 0;
}
