#include "dynamo/testing/serving_graph.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <charconv>

namespace dynamo::testing {

runtime_config serving_graph::test_runtime_config() {
  runtime_config cfg;
  cfg.threads = 2;
  cfg.log_level = "warn";
  cfg.seed = 42;
  cfg.drain_timeout = std::chrono::seconds{5};
  return cfg;
}

serving_graph::serving_graph(const graph& g, runtime_config cfg)
  : rt_(std::make_unique<runtime>(std::move(cfg))),
    runner_(std::make_unique<graph_runner>(*rt_, g)) {
  if (auto err = runner_->start())
    ADD_FAILURE() << "graph failed to start: " << describe(err);
  else
    started_ = true;
}

serving_graph::~serving_graph() {
  runner_->stop();
  runner_.reset();
  rt_.reset();
}

size_t serving_graph::registered(const std::string& component) const {
  return rt_->discovery().list(rt_->ns() + '/' + component + '/').size();
}

uint16_t serving_graph::wait_ready(const std::string& frontend, const std::string& worker,
                                   size_t expected_workers, std::chrono::milliseconds timeout) {
  uint16_t port = 0;
  auto ready = wait_until(
    [&] {
      if (registered(worker) < expected_workers)
        return false;
      for (const auto& rec : rt_->discovery().list(rt_->ns() + '/' + frontend + '/')) {
        auto i = rec.metadata.find("http_address");
        if (i == rec.metadata.end())
          continue;
        auto colon = i->second.rfind(':');
        auto text = std::string_view{i->second}.substr(colon + 1);
        std::from_chars(text.data(), text.data() + text.size(), port);
        return port != 0;
      }
      return false;
    },
    timeout);
  if (!ready) {
    ADD_FAILURE() << "timed out after " << timeout.count() << " ms waiting for " << frontend
                  << " to register its HTTP address and " << expected_workers << " " << worker
                  << " instance(s)";
    return 0;
  }
  // Registration is not the frontend's view: wait until it reports healthy (it reaches a
  // target) and lists at least one model.
  auto serving = wait_until(
    [port] {
      auto c = http_client::connect("127.0.0.1", port);
      if (!c)
        return false;
      auto health = c->request("GET", "/health");
      if (!health || health->status != 200)
        return false;
      auto models = c->request("GET", "/v1/models");
      return models && models->status == 200
             && models->body.find("\"id\"") != std::string::npos;
    },
    timeout);
  if (!serving)
    ADD_FAILURE() << "timed out after " << timeout.count() << " ms waiting for " << frontend
                  << " on port " << port << " to be healthy and list a model";
  return serving ? port : 0;
}

} // namespace dynamo::testing
