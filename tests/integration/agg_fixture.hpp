// Shared pieces of the agg-graph integration tests: building the graph with test settings and
// small helpers for JSON and metrics.
#pragma once

#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/error.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/serving_graph.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <sstream>
#include <string>

namespace dynamo::testing {

/// The agg example graph with test settings: frontend on a free port, `workers` mocker workers
/// at `speedup`.
inline graph make_agg_graph(size_t workers = 2, double speedup = 1000,
                            std::string policy = "round-robin") {
  graph g{"agg"};
  actors::worker_config wc;
  wc.mocker.speedup_ratio = speedup;
  actors::router_config rc;
  rc.policy = std::move(policy);
  actors::frontend_config fc;
  fc.port = 0;
  fc.max_body_bytes = 64 * 1024;
  auto w = g.add<actors::mocker_worker>("worker", wc, workers);
  auto r = g.add<actors::router>("router", rc);
  auto f = g.add<actors::frontend>("frontend", fc);
  g.connect(f, r);
  g.connect(r, w);
  return g;
}

/// Connects a client or fails the test.
inline http_client connect_or_fail(uint16_t port) {
  auto c = http_client::connect("127.0.0.1", port);
  if (!c) {
    ADD_FAILURE() << "cannot connect to 127.0.0.1:" << port << ": " << describe(c.error());
    std::abort();
  }
  return std::move(*c);
}

/// Sends a request and returns the response (fails the test on transport errors).
inline http_response call(http_client& c, std::string_view method, std::string_view target,
                          std::string_view body = {}) {
  auto res = c.request(method, target, body, {{"Content-Type", "application/json"}});
  if (!res) {
    ADD_FAILURE() << method << " " << target << " failed: " << describe(res.error());
    return {};
  }
  return std::move(*res);
}

/// The sum of all samples of metric `name` (optionally only lines containing `filter`) in a
/// Prometheus text body; nullopt if there is none.
inline std::optional<double> metric_sum(const std::string& text, const std::string& name,
                                        const std::string& filter = {}) {
  std::optional<double> sum;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    if (line.rfind(name, 0) != 0 || (line.size() > name.size() && line[name.size()] != '{'
                                     && line[name.size()] != ' '))
      continue;
    if (!filter.empty() && line.find(filter) == std::string::npos)
      continue;
    auto sp = line.rfind(' ');
    sum = sum.value_or(0) + std::stod(line.substr(sp + 1));
  }
  return sum;
}

} // namespace dynamo::testing
