#include "dynamo/workload/http_stream.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"
#include "dynamo/workload/fake_frontend.test.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <optional>

using namespace dynamo;
using namespace dynamo::workload;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

/// What a test observes of one exchange.
struct observed {
  std::optional<int> head_status;
  std::vector<std::string> events;
  std::optional<stream_result> result;
};

stream_callbacks observe(observed& o) {
  stream_callbacks cb;
  cb.on_head = [obs = &o](const response_head& head, stream_clock::time_point) {
    obs->head_status = head.status;
  };
  cb.on_event = [obs = &o](std::string_view data, stream_clock::time_point) {
    obs->events.emplace_back(data);
  };
  cb.on_done = [obs = &o](stream_result result, stream_clock::time_point) {
    obs->result = std::move(result);
  };
  return cb;
}

std::unique_ptr<stream_client> make_client(const std::string& url, size_t max_connections = 8) {
  auto parsed = parse_url(url);
  EXPECT_TRUE(parsed);
  stream_client::config cfg;
  cfg.url = *parsed;
  cfg.max_connections = max_connections;
  auto client = stream_client::make(std::move(cfg));
  EXPECT_TRUE(client) << describe(client.error());
  return std::move(*client);
}

stream_request post(std::string body = "{}", std::chrono::milliseconds timeout = 5000ms) {
  stream_request req;
  req.target = "/v1/completions";
  req.body = std::move(body);
  req.timeout = timeout;
  return req;
}

/// Drives the client until `done` holds; false after `timeout`.
bool drive(stream_client& client, const std::function<bool()>& done,
           std::chrono::milliseconds timeout = 5000ms) {
  auto give_up = stream_clock::now() + timeout;
  while (!done()) {
    if (stream_clock::now() > give_up)
      return false;
    client.run_once(10ms);
  }
  return true;
}

std::string sse_body() {
  return fake::completion_event("Hel") + fake::completion_event("lo") + ": keep-alive\n\n"
         + fake::usage_event(5, 2, 1) + fake::done_event();
}

} // namespace

TEST(stream_client, streams_events_written_byte_by_byte_and_reuses_the_connection) {
  fake::fake_server server{[](const fake::received_request&, fake::server_connection& conn) {
    auto body = sse_body();
    std::string wire = fake::sse_head();
    // Uneven chunk boundaries: events straddle chunks.
    for (size_t i = 0; i < body.size(); i += 37)
      wire += fake::http_chunk(std::string_view{body}.substr(i, 37));
    wire += fake::last_chunk();
    conn.write_bytewise(wire);
  }};
  auto client = make_client(server.url());
  for (int round = 0; round < 2; ++round) {
    observed o;
    auto id = client->start(post(), observe(o));
    ASSERT_TRUE(id) << describe(id.error());
    ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
      << "timed out waiting for the streamed response, round " << round;
    EXPECT_FALSE(o.result->error) << describe(o.result->error);
    EXPECT_EQ(o.result->status, 200);
    EXPECT_EQ(o.head_status, 200);
    EXPECT_TRUE(o.result->event_stream);
    ASSERT_EQ(o.events.size(), 4u);
    EXPECT_THAT(o.events[0], HasSubstr("\"text\":\"Hel\""));
    EXPECT_THAT(o.events[2], HasSubstr("\"cached_tokens\":1"));
    EXPECT_EQ(o.events[3], "[DONE]");
    EXPECT_EQ(o.result->events, 4u);
  }
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(client->stats().connections_reused, 1u);
  EXPECT_EQ(client->in_flight(), 0u);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1/completions");
  EXPECT_EQ(reqs[0].body, "{}");
}

TEST(stream_client, error_answers_keep_their_json_body) {
  fake::fake_server server{[](const fake::received_request&, fake::server_connection& conn) {
    conn.write(fake::error_response(503, "Service Unavailable", "no workers"));
  }};
  auto client = make_client(server.url());
  observed o;
  ASSERT_TRUE(client->start(post(), observe(o)));
  ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
    << "timed out waiting for the 503";
  EXPECT_FALSE(o.result->error);
  EXPECT_EQ(o.result->status, 503);
  EXPECT_FALSE(o.result->event_stream);
  EXPECT_EQ(o.result->content_type, "application/json");
  EXPECT_THAT(o.result->body, HasSubstr("\"message\":\"no workers\""));
  EXPECT_TRUE(o.events.empty());
}

TEST(stream_client, body_until_close_completes_at_eof) {
  fake::fake_server server{[](const fake::received_request&, fake::server_connection& conn) {
    conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
    conn.write(fake::completion_event("a") + fake::done_event());
    conn.close();
  }};
  auto client = make_client(server.url());
  observed o;
  ASSERT_TRUE(client->start(post(), observe(o)));
  ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
    << "timed out waiting for the close-delimited response";
  EXPECT_FALSE(o.result->error) << describe(o.result->error);
  EXPECT_EQ(o.events.size(), 2u);
  EXPECT_EQ(client->open_connections(), 0u);
}

TEST(stream_client, reset_mid_stream_is_disconnected_after_the_events_before_it) {
  fake::fake_server server{[](const fake::received_request&, fake::server_connection& conn) {
    conn.write(fake::sse_head() + fake::http_chunk(fake::completion_event("a")));
    conn.write(fake::http_chunk("data: {\"partial"));
    conn.reset();
  }};
  auto client = make_client(server.url());
  observed o;
  ASSERT_TRUE(client->start(post(), observe(o)));
  ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
    << "timed out waiting for the reset to be reported";
  EXPECT_EQ(classify(o.result->error), errc::disconnected);
  EXPECT_EQ(o.result->status, 200);
  EXPECT_EQ(o.events.size(), 1u);
  EXPECT_FALSE(o.result->retried);
}

TEST(stream_client, timeout_fails_a_stalled_stream) {
  std::atomic<bool> release{false};
  fake::fake_server server{[&release](const fake::received_request&,
                                      fake::server_connection& conn) {
    conn.write(fake::sse_head() + fake::http_chunk(fake::completion_event("a")));
    dynamo::testing::wait_until([&release] { return release.load(); }, 5000ms);
    conn.close();
  }};
  auto client = make_client(server.url());
  observed o;
  auto started = stream_clock::now();
  ASSERT_TRUE(client->start(post("{}", 150ms), observe(o)));
  ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
    << "timed out waiting for the request timeout to fire";
  release = true;
  EXPECT_GE(stream_clock::now() - started, 150ms);
  EXPECT_EQ(classify(o.result->error), errc::deadline_exceeded);
  EXPECT_EQ(o.events.size(), 1u);
  EXPECT_EQ(client->open_connections(), 0u);
}

TEST(stream_client, refused_connection_is_unavailable) {
  auto port = dynamo::testing::free_port();
  auto client = make_client(fmt::format("http://127.0.0.1:{}", port));
  observed o;
  ASSERT_TRUE(client->start(post(), observe(o)));
  ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
    << "timed out waiting for the refused connect";
  EXPECT_EQ(classify(o.result->error), errc::unavailable);
  EXPECT_EQ(o.result->status, 0);
  auto url = parse_url(fmt::format("http://127.0.0.1:{}", port));
  EXPECT_EQ(classify(check_reachable(*url, 1000ms)), errc::unavailable);
}

TEST(stream_client, capacity_cancel_and_bad_requests) {
  std::atomic<bool> release{false};
  fake::fake_server server{[&release](const fake::received_request&,
                                      fake::server_connection& conn) {
    conn.write(fake::sse_head());
    dynamo::testing::wait_until([&release] { return release.load(); }, 5000ms);
    conn.close();
  }};
  auto client = make_client(server.url(), 2);
  EXPECT_FALSE(check_reachable(*parse_url(server.url()), 1000ms));
  observed a;
  observed b;
  observed c;
  auto id_a = client->start(post(), observe(a));
  ASSERT_TRUE(id_a);
  ASSERT_TRUE(client->start(post(), observe(b)));
  EXPECT_FALSE(client->has_capacity());
  EXPECT_EQ(classify(client->start(post(), observe(c)).error()), errc::overloaded);
  ASSERT_TRUE(drive(*client, [&a, &b] { return a.head_status && b.head_status; }))
    << "timed out waiting for both response heads";
  client->cancel(*id_a);
  client->cancel(*id_a);
  ASSERT_TRUE(drive(*client, [&a] { return a.result.has_value(); }))
    << "timed out waiting for the cancellation";
  EXPECT_EQ(classify(a.result->error), errc::cancelled);
  EXPECT_FALSE(b.result);
  EXPECT_TRUE(client->has_capacity());
  auto bad = post();
  bad.target = "no-slash";
  EXPECT_EQ(classify(client->start(bad, observe(c)).error()), errc::invalid_request);
  bad = post();
  bad.headers = {{"X-Evil", "a\r\nb"}};
  EXPECT_EQ(classify(client->start(bad, observe(c)).error()), errc::invalid_request);
  release = true;
  ASSERT_TRUE(drive(*client, [&b] { return b.result.has_value(); }))
    << "timed out waiting for the second response to end";
}

TEST(stream_client, stale_kept_alive_connection_is_retried_once_on_a_fresh_one) {
  std::atomic<int> served{0};
  fake::fake_server server{[&served](const fake::received_request& req,
                                     fake::server_connection& conn) {
    if (req.connection == 1 && served.load() == 1) {
      conn.close();  // the server dropped the kept-alive connection under the second request
      return;
    }
    ++served;
    conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 14\r\n\r\n"
               "data: [DONE]\n\n");
  }};
  auto client = make_client(server.url());
  observed first;
  ASSERT_TRUE(client->start(post(), observe(first)));
  ASSERT_TRUE(drive(*client, [&first] { return first.result.has_value(); }))
    << "timed out waiting for the first response";
  EXPECT_FALSE(first.result->error);
  observed second;
  ASSERT_TRUE(client->start(post(), observe(second)));
  ASSERT_TRUE(drive(*client, [&second] { return second.result.has_value(); }))
    << "timed out waiting for the retried response";
  EXPECT_FALSE(second.result->error) << describe(second.result->error);
  EXPECT_TRUE(second.result->retried);
  EXPECT_EQ(second.events.size(), 1u);
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(client->stats().retries, 1u);
}

TEST(stream_client, malformed_event_stream_fails_the_exchange) {
  fake::fake_server server{[](const fake::received_request&, fake::server_connection& conn) {
    conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               "Transfer-Encoding: chunked\r\n\r\nnot-hex\r\n");
  }};
  auto client = make_client(server.url());
  observed o;
  ASSERT_TRUE(client->start(post(), observe(o)));
  ASSERT_TRUE(drive(*client, [&o] { return o.result.has_value(); }))
    << "timed out waiting for the protocol error";
  EXPECT_EQ(classify(o.result->error), errc::invalid_request);
}
