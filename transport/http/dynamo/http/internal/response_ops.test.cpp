#include "dynamo/http/internal/response_ops.hpp"

#include <gtest/gtest.h>

namespace dynamo::http::internal {
namespace {

TEST(http_response_ops, status_validation_and_texts) {
  EXPECT_TRUE(is_valid_status(200));
  EXPECT_TRUE(is_valid_status(599));
  EXPECT_FALSE(is_valid_status(101));
  EXPECT_FALSE(is_valid_status(600));
  EXPECT_FALSE(is_valid_status(-1));
  EXPECT_EQ(status_text(200), "OK");
  EXPECT_EQ(status_text(413), "Payload Too Large");
  EXPECT_EQ(status_text(429), "Too Many Requests");
  EXPECT_EQ(status_text(599), "Unknown");
  EXPECT_TRUE(is_bodyless_status(204));
  EXPECT_TRUE(is_bodyless_status(304));
  EXPECT_FALSE(is_bodyless_status(200));
}

TEST(http_response_ops, header_validation) {
  EXPECT_TRUE(is_valid_header_name("X-Request-Id"));
  EXPECT_FALSE(is_valid_header_name(""));
  EXPECT_FALSE(is_valid_header_name("Bad Name"));
  EXPECT_FALSE(is_valid_header_name("Bad:Name"));
  EXPECT_TRUE(is_valid_header_value("text/event-stream; charset=utf-8"));
  EXPECT_FALSE(is_valid_header_value("a\r\nInjected: yes"));
  EXPECT_FALSE(is_valid_header_value(std::string_view{"a\0b", 3}));
  EXPECT_TRUE(is_connection_header("content-length"));
  EXPECT_TRUE(is_connection_header("Transfer-Encoding"));
  EXPECT_TRUE(is_connection_header("CONNECTION"));
  EXPECT_FALSE(is_connection_header("Content-Type"));
}

TEST(http_response_ops, connection_tokens_decide_closing) {
  EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(has_token("keep-alive-ish", "keep-alive"));
  request keep;
  keep.headers = {{"Host", "x"}};
  EXPECT_FALSE(wants_close(keep, false));
  EXPECT_TRUE(wants_close(keep, true)) << "HTTP/1.0 closes by default";
  request close;
  close.headers = {{"connection", "Close"}};
  EXPECT_TRUE(wants_close(close, false));
  request http10_keep_alive;
  http10_keep_alive.headers = {{"Connection", "Keep-Alive"}};
  EXPECT_FALSE(wants_close(http10_keep_alive, true));
}

TEST(http_response_ops, error_body_is_escaped_openai_json) {
  EXPECT_EQ(error_body("too \"big\"\n", "invalid_request_error", "request_too_large"),
            R"({"error":{"message":"too \"big\"\n","type":"invalid_request_error",)"
            R"("param":null,"code":"request_too_large"}})");
  EXPECT_EQ(error_body(std::string_view{"\x01", 1}, "t", "c"),
            R"({"error":{"message":"\u0001","type":"t","param":null,"code":"c"}})");
}

TEST(http_request, header_lookup_and_path) {
  request req;
  req.target = "/v1/models?limit=2";
  req.headers = {{"Content-Type", "application/json"}, {"X-Two", "a"}, {"x-two", "b"}};
  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.header("X-TWO"), "a") << "the first occurrence wins";
  EXPECT_EQ(req.header("missing"), "");
  EXPECT_EQ(req.path(), "/v1/models");
  req.target = "/plain";
  EXPECT_EQ(req.path(), "/plain");
}

} // namespace
} // namespace dynamo::http::internal
