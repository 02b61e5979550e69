#include "dynamo/workload/http_parse.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace dynamo;
using namespace dynamo::workload;
using ::testing::ElementsAre;

namespace {

struct parsed {
  caf::error error;
  std::string body;
  size_t consumed = 0;
};

/// Feeds `bytes` in pieces of `step` bytes (0 = all at once) until the parser completes.
parsed feed(response_parser& p, std::string_view bytes, size_t step = 0) {
  parsed out;
  if (step == 0)
    step = bytes.size();
  while (!bytes.empty() && !p.complete()) {
    auto piece = bytes.substr(0, step);
    auto n = p.feed(piece, out.body);
    if (!n) {
      out.error = std::move(n.error());
      return out;
    }
    out.consumed += *n;
    bytes.remove_prefix(*n);
    if (*n < piece.size())
      break;
  }
  return out;
}

std::vector<std::string> decode(std::string_view bytes, size_t step) {
  sse_decoder d;
  std::vector<std::string> events;
  for (size_t i = 0; i < bytes.size(); i += step)
    EXPECT_FALSE(d.feed(bytes.substr(i, step), events));
  return events;
}

} // namespace

TEST(response_parser, content_length_body_and_head_fields) {
  response_parser p;
  const std::string wire = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                           "Content-Length: 5\r\nX-A:  b \r\n\r\nhelloEXTRA";
  auto r = feed(p, wire);
  ASSERT_FALSE(r.error);
  EXPECT_TRUE(p.complete());
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.consumed, wire.size() - 5);  // up to the body's end, not the extra bytes
  EXPECT_EQ(p.head().status, 503);
  EXPECT_EQ(p.head().reason, "Service Unavailable");
  EXPECT_EQ(p.head().header("Content-Type"), "application/json");
  EXPECT_EQ(p.head().header("x-a"), "b");
  EXPECT_TRUE(p.keep_alive());
}

TEST(response_parser, chunked_body_split_at_every_byte) {
  const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, wire.size()}) {
    response_parser p;
    auto r = feed(p, wire, step);
    ASSERT_FALSE(r.error) << "step " << step << ": " << describe(r.error);
    EXPECT_TRUE(p.complete()) << "step " << step;
    EXPECT_EQ(r.body, "hello0123456789") << "step " << step;
    EXPECT_EQ(r.consumed, wire.size());
  }
}

TEST(response_parser, interim_responses_are_skipped) {
  response_parser p;
  auto r = feed(p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(p.head().status, 200);
  EXPECT_EQ(r.body, "ok");
}

TEST(response_parser, body_until_close) {
  response_parser p;
  auto r = feed(p, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc");
  ASSERT_FALSE(r.error);
  EXPECT_FALSE(p.complete());
  EXPECT_FALSE(p.keep_alive());
  EXPECT_FALSE(p.finish_eof());
  EXPECT_TRUE(p.complete());
  EXPECT_EQ(r.body, "abc");
}

TEST(response_parser, early_close_is_disconnected) {
  response_parser p;
  auto r = feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(classify(p.finish_eof()), errc::disconnected);
  response_parser nothing;
  EXPECT_EQ(classify(nothing.finish_eof()), errc::disconnected);
}

TEST(response_parser, connection_header_rules) {
  response_parser close;
  feed(close, "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(close.complete());
  EXPECT_FALSE(close.keep_alive());
  response_parser old;
  feed(old, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(old.keep_alive());
  response_parser old_keep;
  feed(old_keep, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(old_keep.keep_alive());
  response_parser no_content;
  feed(no_content, "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n");
  EXPECT_TRUE(no_content.complete());
}

TEST(response_parser, malformed_responses_are_invalid_request) {
  for (std::string_view wire : {
         std::string_view{"SSH-2.0-OpenSSH\r\n\r\n"},
         std::string_view{"HTTP/1.1 20 OK\r\n\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nbad header\r\n\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "1\r\nabc\r\n"},
         std::string_view{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "ffffffffffffffffff\r\n"},
         std::string_view{"HTTP/1.1 101 Switching Protocols\r\n\r\n"},
       }) {
    response_parser p;
    auto r = feed(p, wire);
    EXPECT_EQ(classify(r.error), errc::invalid_request) << wire;
  }
}

TEST(response_parser, head_size_is_bounded) {
  response_parser p{response_parser::limits{128, 64}};
  std::string wire = "HTTP/1.1 200 OK\r\n" + std::string(200, 'x');
  auto r = feed(p, wire, 16);
  EXPECT_EQ(classify(r.error), errc::invalid_request);
}

TEST(sse_decoder, events_split_at_every_byte_with_all_line_ends) {
  const std::string stream = "\xEF\xBB\xBF: comment\r\ndata: one\r\n\r\n"
                             "event: x\ndata:two\ndata:  three\n\n"
                             "id: 7\rdata: four\r\rretry: 10\n\n"
                             "data\n\n"
                             "data: [DONE]\n\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{5}, stream.size()}) {
    EXPECT_THAT(decode(stream, step), ElementsAre("one", "two\n three", "four", "", "[DONE]"))
      << "step " << step;
  }
}

TEST(sse_decoder, unfinished_event_stays_buffered) {
  sse_decoder d;
  std::vector<std::string> events;
  EXPECT_FALSE(d.feed("data: partial", events));
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(d.has_partial_event());
  EXPECT_FALSE(d.feed("\n", events));
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(d.feed("\n", events));
  EXPECT_THAT(events, ElementsAre("partial"));
  EXPECT_FALSE(d.has_partial_event());
}

TEST(sse_decoder, oversized_event_fails) {
  sse_decoder d{16};
  std::vector<std::string> events;
  auto err = d.feed("data: 0123456789abcdef\n\n", events);
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(classify(d.feed("data: x\n\n", events)), errc::invalid_request);
}

TEST(format_request, serializes_and_refuses_head_splitting) {
  auto wire = format_request("POST", "h:80", "/v1/completions", {{"X-A", "1"}},
                             "application/json", "{}");
  ASSERT_TRUE(wire);
  EXPECT_EQ(*wire, "POST /v1/completions HTTP/1.1\r\nHost: h:80\r\nX-A: 1\r\n"
                   "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  auto get = format_request("GET", "h:80", "/x", {}, "application/json", "");
  ASSERT_TRUE(get);
  EXPECT_EQ(*get, "GET /x HTTP/1.1\r\nHost: h:80\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(classify(format_request("PO ST", "h", "/", {}, "", "").error()),
            errc::invalid_request);
  EXPECT_EQ(classify(format_request("GET", "h", "x", {}, "", "").error()), errc::invalid_request);
  EXPECT_EQ(classify(format_request("GET", "h", "/a b", {}, "", "").error()),
            errc::invalid_request);
  EXPECT_EQ(classify(format_request("GET", "h", "/", {{"X", "a\r\nEvil: 1"}}, "", "").error()),
            errc::invalid_request);
  EXPECT_EQ(classify(format_request("GET", "h", "/", {{"X:Y", "1"}}, "", "").error()),
            errc::invalid_request);
}

TEST(format_request, event_stream_content_types) {
  EXPECT_TRUE(is_event_stream("text/event-stream"));
  EXPECT_TRUE(is_event_stream("Text/Event-Stream; charset=utf-8"));
  EXPECT_FALSE(is_event_stream("application/json"));
  EXPECT_FALSE(is_event_stream("text/event-streams"));
  EXPECT_FALSE(is_event_stream(""));
}
