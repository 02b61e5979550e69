#include "dynamo/http/server.hpp"

#include "dynamo/http/internal/server_test_support.hpp"
#include "dynamo/testing/wait.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace std::chrono_literals;
using dynamo::testing::http_client;
using dynamo::testing::parse_sse_data;
using ::testing::HasSubstr;

namespace dynamo::http {
namespace {

using namespace test;

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

} // namespace
} // namespace dynamo::http
