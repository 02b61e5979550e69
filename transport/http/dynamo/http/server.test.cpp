#include "dynamo/http/server.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/wait.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using dynamo::testing::http_client;
using dynamo::testing::parse_sse_data;
using ::testing::HasSubstr;

namespace dynamo::http {
namespace {

constexpr auto timeout = 5000ms;

/// A stand-in for an actor: runs posted work on its own thread, in order.
class worker {
public:
  worker() : thread_([this] { run(); }) {
  }

  ~worker() {
    {
      std::lock_guard guard{mutex_};
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

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
  void park(std::shared_ptr<response_stream> stream) {
    std::lock_guard guard{mutex_};
    streams_.push_back(std::move(stream));
  }

  size_t size() const {
    std::lock_guard guard{mutex_};
    return streams_.size();
  }

  std::shared_ptr<response_stream> at(size_t i) const {
    std::lock_guard guard{mutex_};
    return streams_.at(i);
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<response_stream>> streams_;
};

std::unique_ptr<server> start_server(handler h, server_config cfg = {}) {
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  auto srv = server::start(std::move(cfg), std::move(h));
  EXPECT_TRUE(srv) << describe(srv.error());
  return srv ? std::move(*srv) : nullptr;
}

http_client connect_to(const server& srv) {
  auto client = http_client::connect("127.0.0.1", srv.port(), timeout);
  EXPECT_TRUE(client) << describe(client.error());
  if (!client)
    throw std::runtime_error("cannot connect to the test server");
  return std::move(*client);
}

std::string body_or_error(caf::expected<std::string> body) {
  return body ? std::move(*body) : "<error: " + describe(body.error()) + ">";
}

void echo(request req, std::shared_ptr<response_stream> out) {
  auto body = fmt::format("{} {} path={} x-test={} body={}", req.method, req.target, req.path(),
                          req.header("X-TEST"), req.body);
  out->respond(200, "text/plain", std::move(body), {{"X-Echo", "yes"}});
}

TEST(http_server, get_and_post_round_trip) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto get = client.request("GET", "/v1/models?limit=2", {}, {{"x-test", "a"}});
  ASSERT_TRUE(get) << describe(get.error());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->header("content-type"), "text/plain");
  EXPECT_EQ(get->header("x-echo"), "yes");
  EXPECT_EQ(get->body, "GET /v1/models?limit=2 path=/v1/models x-test=a body=");
  auto post = client.request("POST", "/v1/completions", R"({"prompt":"hi"})");
  ASSERT_TRUE(post) << describe(post.error());
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(post->header("content-length"), std::to_string(post->body.size()));
  EXPECT_EQ(post->body, R"(POST /v1/completions path=/v1/completions x-test= body={"prompt":"hi"})");
}

TEST(http_server, keep_alive_serves_several_requests_on_one_connection) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  for (int i = 0; i < 10; ++i) {
    auto resp = client.request("POST", "/n", std::to_string(i));
    ASSERT_TRUE(resp) << "request " << i << ": " << describe(resp.error());
    EXPECT_EQ(resp->status, 200);
    EXPECT_THAT(resp->body, HasSubstr("body=" + std::to_string(i)));
    EXPECT_NE(resp->header("connection"), "close");
  }
}

TEST(http_server, pipelined_requests_are_answered_in_order) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_raw("GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  // send_raw registered one expected response; the second one is read the same way.
  for (auto target : {"/1", "/2"}) {
    auto head = client.read_head();
    ASSERT_TRUE(head) << describe(head.error());
    auto body = client.read_body();
    ASSERT_TRUE(body) << describe(body.error());
    EXPECT_THAT(*body, HasSubstr(std::string{"GET "} + target + " "));
  }
}

TEST(http_server, request_sent_while_the_previous_is_pending_is_served_after_it) {
  parked_streams parked;
  auto srv = start_server([&parked](request req, std::shared_ptr<response_stream> out) {
    if (req.path() == "/slow")
      parked.park(std::move(out));
    else
      echo(std::move(req), std::move(out));
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_request("GET", "/slow"));
  DYNAMO_EXPECT_EVENTUALLY(parked.size() == 1, timeout, "the /slow handler to run");
  ASSERT_EQ(parked.size(), 1u);
  ASSERT_FALSE(client.send_request("POST", "/fast", "second"));
  std::this_thread::sleep_for(50ms);  // let the second request reach the server while /slow waits
  parked.at(0)->respond(200, "text/plain", "first");
  auto first = client.read_head();
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_EQ(body_or_error(client.read_body()), "first");
  auto second = client.read_head();
  ASSERT_TRUE(second) << describe(second.error());
  EXPECT_THAT(body_or_error(client.read_body()), HasSubstr("body=second"));
}

TEST(http_server, oversize_content_length_gets_413_without_calling_the_handler) {
  std::atomic<int> calls{0};
  server_config cfg;
  cfg.max_body_bytes = 1024;
  auto srv = start_server(
    [&calls](request req, std::shared_ptr<response_stream> out) {
      ++calls;
      echo(std::move(req), std::move(out));
    },
    cfg);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto at_limit = client.request("POST", "/x", std::string(1024, 'a'));
  ASSERT_TRUE(at_limit) << describe(at_limit.error());
  EXPECT_EQ(at_limit->status, 200);
  EXPECT_EQ(calls.load(), 1);
  auto over = client.request("POST", "/x", std::string(1025, 'a'));
  ASSERT_TRUE(over) << describe(over.error());
  EXPECT_EQ(over->status, 413);
  EXPECT_EQ(over->header("content-type"), "application/json");
  EXPECT_THAT(over->body, HasSubstr(R"("type":"invalid_request_error")"));
  EXPECT_THAT(over->body, HasSubstr(R"("param":null)"));
  EXPECT_THAT(over->body, HasSubstr(R"("code":"request_too_large")"));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(over->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed(timeout)) << "the server should close after a 413";
}

TEST(http_server, oversize_chunked_body_gets_413_without_calling_the_handler) {
  std::atomic<int> calls{0};
  server_config cfg;
  cfg.max_body_bytes = 100;
  auto srv = start_server(
    [&calls](request req, std::shared_ptr<response_stream> out) {
      ++calls;
      echo(std::move(req), std::move(out));
    },
    cfg);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto small = client.request("POST", "/x", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                              {{"Transfer-Encoding", "chunked"}});
  ASSERT_TRUE(small) << describe(small.error());
  EXPECT_EQ(small->status, 200);
  EXPECT_THAT(small->body, HasSubstr("body=abcde"));
  auto chunk = std::string(60, 'z');
  auto big = fmt::format("3c\r\n{}\r\n3c\r\n{}\r\n0\r\n\r\n", chunk, chunk);
  auto over = client.request("POST", "/x", big, {{"Transfer-Encoding", "chunked"}});
  ASSERT_TRUE(over) << describe(over.error());
  EXPECT_EQ(over->status, 413);
  EXPECT_THAT(over->body, HasSubstr(R"("code":"request_too_large")"));
  EXPECT_EQ(calls.load(), 1);
}

TEST(http_server, malformed_request_gets_400) {
  std::atomic<int> calls{0};
  auto srv = start_server([&calls](request req, std::shared_ptr<response_stream> out) {
    ++calls;
    echo(std::move(req), std::move(out));
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_raw("GET / HTTP/1.1\r\nthis is not a header\r\n\r\n"));
  auto head = client.read_head();
  ASSERT_TRUE(head) << describe(head.error());
  EXPECT_EQ(head->status, 400);
  EXPECT_EQ(calls.load(), 0);
}

TEST(http_server, stream_written_from_another_thread_arrives_in_order) {
  worker actor;
  constexpr int events = 200;
  auto srv = start_server([&actor](request, std::shared_ptr<response_stream> out) {
    actor.post([out] {
      out->start_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
      for (int i = 0; i < events; ++i)
        out->write(fmt::format("data: {}\n\n", i));
      out->finish();
    });
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto resp = client.request("POST", "/v1/chat/completions", "{}");
  ASSERT_TRUE(resp) << describe(resp.error());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->header("content-type"), "text/event-stream");
  EXPECT_EQ(resp->header("cache-control"), "no-cache");
  EXPECT_EQ(resp->header("transfer-encoding"), "chunked");
  auto data = parse_sse_data(resp->body);
  ASSERT_EQ(data.size(), size_t{events});
  for (int i = 0; i < events; ++i)
    EXPECT_EQ(data[i], std::to_string(i));
  // The connection stays usable after a streamed response.
  auto again = client.request("POST", "/again", "{}");
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(parse_sse_data(again->body).size(), size_t{events});
}

TEST(http_server, stream_chunks_arrive_before_finish) {
  parked_streams parked;
  auto srv = start_server([&parked](request, std::shared_ptr<response_stream> out) {
    out->start_stream(200, "text/event-stream");
    out->write("data: first\n\n");
    parked.park(std::move(out));
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_request("GET", "/stream"));
  auto head = client.read_head();
  ASSERT_TRUE(head) << describe(head.error());
  EXPECT_EQ(head->status, 200);
  auto first = client.read_until("\n\n");
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_EQ(*first, "data: first\n\n");
  EXPECT_FALSE(client.body_complete());
  EXPECT_EQ(srv->active_requests(), 1u);
  auto out = parked.at(0);
  std::thread writer{[out] {
    out->write("data: second\n\n");
    out->finish();
  }};
  writer.join();
  auto rest = client.read_body();
  ASSERT_TRUE(rest) << describe(rest.error());
  EXPECT_EQ(*rest, "data: second\n\n");
  DYNAMO_EXPECT_EVENTUALLY(srv->active_requests() == 0, timeout,
                           "the finished stream to stop counting as active");
  EXPECT_FALSE(out->disconnected());
}

TEST(http_server, many_concurrent_clients_are_all_answered) {
  worker actor;
  auto srv = start_server([&actor](request req, std::shared_ptr<response_stream> out) {
    if (req.path() == "/inline") {
      out->respond(200, "text/plain", req.body);
      return;
    }
    actor.post([req = std::move(req), out] {
      out->start_stream(200, "text/plain");
      out->write(req.body.substr(0, 3));
      out->write(req.body.substr(3));
      out->finish();
    });
  });
  ASSERT_TRUE(srv);
  constexpr int clients = 32;
  constexpr int requests = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&srv, &ok, c] {
      auto client = http_client::connect("127.0.0.1", srv->port(), timeout);
      if (!client)
        return;
      for (int r = 0; r < requests; ++r) {
        auto body = fmt::format("client {} request {}", c, r);
        auto resp = client->request("POST", r % 2 == 0 ? "/inline" : "/actor", body);
        if (resp && resp->status == 200 && resp->body == body)
          ++ok;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), clients * requests);
  DYNAMO_EXPECT_EVENTUALLY(srv->active_requests() == 0, timeout, "no request to remain active");
}

class disconnect_test : public ::testing::TestWithParam<bool> {};

TEST_P(disconnect_test, client_gone_mid_stream_fires_on_disconnect_and_later_writes_are_ignored) {
  bool reset = GetParam();
  parked_streams parked;
  std::atomic<int> fired{0};
  auto srv = start_server([&parked, &fired](request, std::shared_ptr<response_stream> out) {
    out->on_disconnect([&fired] { ++fired; });
    out->start_stream(200, "text/event-stream");
    out->write("data: hello\n\n");
    parked.park(std::move(out));
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_request("GET", "/stream"));
  ASSERT_TRUE(client.read_head());
  ASSERT_TRUE(client.read_until("hello"));
  client.abort(reset);
  DYNAMO_EXPECT_EVENTUALLY(fired.load() == 1, timeout, "on_disconnect after the client left");
  auto out = parked.at(0);
  EXPECT_TRUE(out->disconnected());
  out->write("data: ignored\n\n");
  out->finish();
  std::atomic<int> late{0};
  out->on_disconnect([&late] { ++late; });
  EXPECT_EQ(late.load(), 1) << "a callback registered after the disconnect runs at once";
  DYNAMO_EXPECT_EVENTUALLY(srv->active_requests() == 0, timeout, "the request to be released");
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(fired.load(), 1) << "on_disconnect must fire exactly once";
}

TEST_P(disconnect_test, client_gone_before_a_plain_response_fires_on_disconnect) {
  bool reset = GetParam();
  parked_streams parked;
  std::atomic<int> fired{0};
  auto srv = start_server([&parked, &fired](request, std::shared_ptr<response_stream> out) {
    out->on_disconnect([&fired] { ++fired; });
    parked.park(std::move(out));
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_request("POST", "/v1/completions", "{}"));
  DYNAMO_EXPECT_EVENTUALLY(parked.size() == 1, timeout, "the handler to run");
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(srv->active_requests(), 1u);
  client.abort(reset);
  DYNAMO_EXPECT_EVENTUALLY(fired.load() == 1, timeout, "on_disconnect of the pending request");
  EXPECT_TRUE(parked.at(0)->disconnected());
  parked.at(0)->respond(200, "text/plain", "too late");
  DYNAMO_EXPECT_EVENTUALLY(srv->active_requests() == 0, timeout, "the request to be released");
}

INSTANTIATE_TEST_SUITE_P(http_server, disconnect_test, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "reset" : "close";
                         });

TEST(http_server, completed_response_never_fires_on_disconnect) {
  std::atomic<int> fired{0};
  auto srv = start_server([&fired](request, std::shared_ptr<response_stream> out) {
    out->on_disconnect([&fired] { ++fired; });
    out->respond(200, "text/plain", "done");
  });
  ASSERT_TRUE(srv);
  {
    auto client = connect_to(*srv);
    auto resp = client.request("GET", "/");
    ASSERT_TRUE(resp) << describe(resp.error());
    client.abort(true);
  }
  DYNAMO_EXPECT_EVENTUALLY(srv->active_requests() == 0, timeout, "the request to complete");
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(fired.load(), 0);
}

TEST(http_server, stop_accepting_refuses_new_connections_and_keeps_existing_ones) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  auto existing = connect_to(*srv);
  ASSERT_TRUE(existing.request("GET", "/before"));
  srv->stop_accepting();
  auto refused = http_client::connect("127.0.0.1", srv->port(), 1000ms);
  ASSERT_FALSE(refused) << "a new connection was accepted after stop_accepting()";
  EXPECT_EQ(classify(refused.error()), errc::unavailable);
  auto after = existing.request("GET", "/after");
  ASSERT_TRUE(after) << describe(after.error());
  EXPECT_EQ(after->status, 200);
  EXPECT_THAT(after->body, HasSubstr("/after"));
  srv->stop_accepting();  // idempotent
}

TEST(http_server, port_zero_binds_a_real_port) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  EXPECT_NE(srv->port(), 0);
  auto client = connect_to(*srv);
  EXPECT_TRUE(client.request("GET", "/"));
}

TEST(http_server, binding_an_occupied_port_fails_with_unavailable) {
  auto first = start_server(echo);
  ASSERT_TRUE(first);
  server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = first->port();
  auto second = server::start(cfg, echo);
  ASSERT_FALSE(second);
  EXPECT_EQ(classify(second.error()), errc::unavailable);
  EXPECT_THAT(operator_detail(second.error()), HasSubstr("Address already in use"));
}

TEST(http_server, invalid_configuration_is_rejected) {
  server_config cfg;
  cfg.host = "";
  cfg.port = 0;
  auto no_host = server::start(cfg, echo);
  ASSERT_FALSE(no_host);
  EXPECT_EQ(classify(no_host.error()), errc::invalid_request);
  cfg.host = "127.0.0.1";
  auto no_handler = server::start(cfg, nullptr);
  ASSERT_FALSE(no_handler);
  EXPECT_EQ(classify(no_handler.error()), errc::invalid_request);
}

TEST(http_server, destroying_the_server_with_open_streams_is_safe) {
  parked_streams parked;
  std::atomic<int> fired{0};
  auto srv = start_server([&parked, &fired](request, std::shared_ptr<response_stream> out) {
    out->on_disconnect([&fired] { ++fired; });
    out->start_stream(200, "text/event-stream");
    parked.park(std::move(out));
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_request("GET", "/stream"));
  ASSERT_TRUE(client.read_head());
  srv.reset();
  EXPECT_EQ(fired.load(), 1) << "unfinished responses report a disconnect at shutdown";
  auto out = parked.at(0);
  EXPECT_TRUE(out->disconnected());
  out->write("data: after shutdown\n\n");
  out->finish();
  out->respond(200, "text/plain", "nope");
  EXPECT_TRUE(client.wait_closed(timeout)) << "the server should close its connections";
}

TEST(http_server, connection_close_request_closes_the_connection) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto resp = client.request("GET", "/", {}, {{"Connection", "close"}});
  ASSERT_TRUE(resp) << describe(resp.error());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed(timeout));
}

TEST(http_server, http10_stream_is_sent_whole_and_the_connection_closed) {
  auto srv = start_server([](request, std::shared_ptr<response_stream> out) {
    std::thread{[out] {
      out->start_stream(200, "text/event-stream");
      out->write("data: a\n\n");
      out->write("data: b\n\n");
      out->finish();
    }}.join();
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_raw("GET /stream HTTP/1.0\r\n\r\n"));
  auto head = client.read_head();
  ASSERT_TRUE(head) << describe(head.error());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("transfer-encoding"), "");
  EXPECT_EQ(head->header("content-length"), "18");
  EXPECT_EQ(body_or_error(client.read_body()), "data: a\n\ndata: b\n\n");
  EXPECT_TRUE(client.wait_closed(timeout));
}

TEST(http_server, handler_exception_becomes_500) {
  auto srv = start_server([](request, std::shared_ptr<response_stream>) {
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto resp = client.request("GET", "/");
  ASSERT_TRUE(resp) << describe(resp.error());
  EXPECT_EQ(resp->status, 500);
  EXPECT_THAT(resp->body, HasSubstr(R"("code":"internal_error")"));
}

TEST(http_server, calls_after_the_response_are_ignored) {
  auto srv = start_server([](request, std::shared_ptr<response_stream> out) {
    out->write("not started");
    out->finish();
    out->respond(201, "text/plain", "first", {{"Content-Length", "999"}, {"Bad Name", "x"}});
    out->respond(500, "text/plain", "second");
    out->start_stream(200, "text/plain");
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto resp = client.request("GET", "/");
  ASSERT_TRUE(resp) << describe(resp.error());
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(resp->body, "first");
  EXPECT_EQ(resp->header("content-length"), "5");
  auto again = client.request("GET", "/");
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(again->status, 201);
}

TEST(http_server, expect_100_continue_gets_an_interim_response_before_the_body) {
  auto srv = start_server(echo);
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  ASSERT_FALSE(client.send_raw("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                               "Expect: 100-continue\r\n\r\n",
                               "POST"));
  auto interim = client.read_head(false);
  ASSERT_TRUE(interim) << describe(interim.error());
  EXPECT_EQ(interim->status, 100);
  ASSERT_FALSE(client.send_more("hello"));
  auto head = client.read_head();
  ASSERT_TRUE(head) << describe(head.error());
  EXPECT_EQ(head->status, 200);
  EXPECT_THAT(body_or_error(client.read_body()), HasSubstr("body=hello"));
}

TEST(http_server, stop_accepting_from_a_handler_applies_at_once) {
  std::atomic<server*> self{nullptr};
  std::atomic<bool> stopped{false};
  auto srv = start_server([&self, &stopped](request req, std::shared_ptr<response_stream> out) {
    if (req.path() == "/stop") {
      self.load()->stop_accepting();
      stopped = true;
    }
    echo(std::move(req), std::move(out));
  });
  ASSERT_TRUE(srv);
  self = srv.get();
  auto client = connect_to(*srv);
  auto resp = client.request("POST", "/stop");
  ASSERT_TRUE(resp) << describe(resp.error());
  EXPECT_TRUE(stopped.load());
  EXPECT_FALSE(http_client::connect("127.0.0.1", srv->port(), 1000ms));
  EXPECT_TRUE(client.request("GET", "/still-served"));
}

TEST(http_test_client, parse_sse_data_extracts_event_payloads) {
  auto events = parse_sse_data("data: one\n\n"
                               ": comment\r\nevent: x\r\ndata: two\r\ndata:three\r\n\r\n"
                               "event: empty\n\n"
                               "data: [DONE]\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "one");
  EXPECT_EQ(events[1], "two\nthree");
  EXPECT_EQ(events[2], "[DONE]");
}

TEST(http_server, head_request_gets_headers_only) {
  auto srv = start_server([](request, std::shared_ptr<response_stream> out) {
    out->respond(200, "text/plain", "twelve bytes");
  });
  ASSERT_TRUE(srv);
  auto client = connect_to(*srv);
  auto head = client.request("HEAD", "/");
  ASSERT_TRUE(head) << describe(head.error());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), "12");
  EXPECT_EQ(head->body, "");
  auto get = client.request("GET", "/");
  ASSERT_TRUE(get) << describe(get.error());
  EXPECT_EQ(get->body, "twelve bytes");
}

} // namespace
} // namespace dynamo::http
