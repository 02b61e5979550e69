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
  EXPECT_EQ(post->body,
            R"(POST /v1/completions path=/v1/completions x-test= body={"prompt":"hi"})");
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
  ASSERT_FALSE(client.send_raw("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                               "GET /2 HTTP/1.1\r\nHost: t\r\n\r\n"));
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

TEST(http_server, client_still_sending_a_refused_body_reads_the_413) {
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
  // Far more than the socket buffers hold: the server must drain it while closing.
  auto over = client.request("POST", "/x", std::string(16 << 20, 'b'));
  ASSERT_TRUE(over) << describe(over.error());
  EXPECT_EQ(over->status, 413);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_TRUE(client.wait_closed(timeout));
}

TEST(http_server, slow_client_still_sending_a_refused_body_reads_the_413) {
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
  // The refused body trickles in for about 2.4 s, longer than any fixed closing deadline of a
  // few seconds: the server must keep draining for as long as the client makes progress. The
  // pauses model a slow uploader; they synchronise nothing.
  constexpr size_t piece_bytes = 64 * 1024;
  constexpr int pieces = 24;
  ASSERT_FALSE(client.send_request("POST", "/x", {},
                                   {{"Content-Length", std::to_string(piece_bytes * pieces)}}));
  const std::string piece(piece_bytes, 'c');
  for (int i = 0; i < pieces; ++i) {
    std::this_thread::sleep_for(100ms);
    auto err = client.send_more(piece);
    ASSERT_FALSE(err) << "piece " << i << ": " << describe(err);
  }
  auto head = client.read_head();
  ASSERT_TRUE(head) << describe(head.error());
  EXPECT_EQ(head->status, 413);
  EXPECT_EQ(head->header("connection"), "close");
  EXPECT_THAT(body_or_error(client.read_body()), HasSubstr(R"("code":"request_too_large")"));
  EXPECT_TRUE(client.wait_closed(timeout)) << "the server should close after a 413";
  EXPECT_EQ(calls.load(), 0);
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
