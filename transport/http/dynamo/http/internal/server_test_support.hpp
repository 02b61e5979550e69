// Helpers shared by the HTTP server tests: a server on a free port, a client connected to it,
// an echo handler, a stand-in actor thread and a place to park response streams.
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/http/server.hpp"
#include "dynamo/testing/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace dynamo::http::test {

using namespace std::chrono_literals;
using dynamo::testing::http_client;

/// Bound of every wait in the HTTP tests.
inline constexpr auto timeout = 5000ms;

/// A stand-in for an actor: runs posted work on its own thread, in order.
class worker {
public:
  /// Starts the thread.
  worker() : thread_([this] { run(); }) {
  }

  /// Runs what is queued, then joins the thread.
  ~worker() {
    {
      std::lock_guard guard{mutex_};
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  /// Queues `fn`. Any thread.
  void post(std::function<void()> fn) {
    {
      std::lock_guard guard{mutex_};
      queue_.push_back(std::move(fn));
    }
    cv_.notify_all();
  }

private:
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock{mutex_};
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
          return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Holds the streams a handler parked, for the test thread to drive.
class parked_streams {
public:
  /// Keeps `stream`. Any thread.
  void park(std::shared_ptr<response_stream> stream) {
    std::lock_guard guard{mutex_};
    streams_.push_back(std::move(stream));
  }

  /// Number of parked streams. Any thread.
  size_t size() const {
    std::lock_guard guard{mutex_};
    return streams_.size();
  }

  /// The i-th parked stream (throws std::out_of_range). Any thread.
  std::shared_ptr<response_stream> at(size_t i) const {
    std::lock_guard guard{mutex_};
    return streams_.at(i);
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<response_stream>> streams_;
};

/// Starts a server on 127.0.0.1 and a free port; null (and a test failure) if it cannot.
inline std::unique_ptr<server> start_server(handler h, server_config cfg = {}) {
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  auto srv = server::start(std::move(cfg), std::move(h));
  EXPECT_TRUE(srv) << describe(srv.error());
  return srv ? std::move(*srv) : nullptr;
}

/// Connects a test client to `srv`; throws (failing the test) if it cannot.
inline http_client connect_to(const server& srv) {
  auto client = http_client::connect("127.0.0.1", srv.port(), timeout);
  EXPECT_TRUE(client) << describe(client.error());
  if (!client)
    throw std::runtime_error("cannot connect to the test server");
  return std::move(*client);
}

/// The body text, or a readable description of the error.
inline std::string body_or_error(caf::expected<std::string> body) {
  return body ? std::move(*body) : "<error: " + describe(body.error()) + ">";
}

/// Answers with a text describing the request (method, target, path, X-Test, body).
inline void echo(request req, std::shared_ptr<response_stream> out) {
  auto body = fmt::format("{} {} path={} x-test={} body={}", req.method, req.target, req.path(),
                          req.header("X-TEST"), req.body);
  out->respond(200, "text/plain", std::move(body), {{"X-Echo", "yes"}});
}

} // namespace dynamo::http::test
