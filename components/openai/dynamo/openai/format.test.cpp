#include "dynamo/openai/format.hpp"

#include "dynamo/error.hpp"

#include <caf/sec.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace dynamo::openai {
namespace {

using json = nlohmann::json;

json parsed(const std::string& text) {
  auto doc = json::parse(text, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << text;
  return doc;
}

TEST(format_error, renders_the_openai_error_object) {
  auto doc = parsed(format_error(api_error{400, "bad 'n'", "invalid_request_error", "n", "x"}));
  EXPECT_EQ(doc["error"]["message"], "bad 'n'");
  EXPECT_EQ(doc["error"]["type"], "invalid_request_error");
  EXPECT_EQ(doc["error"]["param"], "n");
  EXPECT_EQ(doc["error"]["code"], "x");
}

TEST(format_error, empty_param_and_code_render_as_null) {
  auto doc = parsed(format_error(api_error{500, "oops", "internal_error", "", ""}));
  ASSERT_TRUE(doc["error"].contains("param"));
  EXPECT_TRUE(doc["error"]["param"].is_null());
  ASSERT_TRUE(doc["error"].contains("code"));
  EXPECT_TRUE(doc["error"]["code"].is_null());
}

TEST(format_error, invalid_utf8_in_the_message_is_replaced) {
  auto doc = parsed(format_error(api_error{400, "bad \xff byte", "invalid_request_error", "", ""}));
  EXPECT_EQ(doc["error"]["message"], "bad \xEF\xBF\xBD byte");
}

struct mapping {
  errc code;
  int status;
  const char* type;
  const char* api_code;
};

class error_mapping : public ::testing::TestWithParam<mapping> {};

TEST_P(error_mapping, maps_class_to_status_type_and_code) {
  const auto& x = GetParam();
  auto err = error_from(make_error(x.code, "client text", "secret operator detail"));
  EXPECT_EQ(err.status, x.status);
  EXPECT_EQ(err.type, x.type);
  EXPECT_EQ(err.code, x.api_code);
  EXPECT_EQ(err.message, "client text");
  EXPECT_EQ(err.param, "");
  EXPECT_EQ(format_error(err).find("secret"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
  all_classes, error_mapping,
  ::testing::Values(
    mapping{errc::invalid_request, 400, "invalid_request_error", ""},
    mapping{errc::not_found, 404, "invalid_request_error", "model_not_found"},
    mapping{errc::unavailable, 503, "service_unavailable", ""},
    mapping{errc::overloaded, 503, "service_unavailable", "overloaded"},
    mapping{errc::disconnected, 502, "service_unavailable", "backend_disconnected"},
    mapping{errc::deadline_exceeded, 504, "timeout_error", "timeout"},
    mapping{errc::cancelled, 499, "cancelled", "cancelled"},
    mapping{errc::internal, 500, "internal_error", ""}));

TEST(error_from, foreign_errors_never_leak_their_rendering) {
  auto timeout = error_from(caf::make_error(caf::sec::request_timeout));
  EXPECT_EQ(timeout.status, 504);
  EXPECT_EQ(timeout.code, "timeout");
  EXPECT_EQ(timeout.message, "the request timed out");
  auto foreign = error_from(caf::make_error(caf::sec::unexpected_message));
  EXPECT_EQ(foreign.status, 500);
  EXPECT_EQ(foreign.message, "internal error");
}

TEST(error_from, empty_client_message_gets_a_generic_text) {
  auto err = error_from(make_error(errc::overloaded, "", "queue full"));
  EXPECT_EQ(err.status, 503);
  EXPECT_FALSE(err.message.empty());
  EXPECT_EQ(err.message.find("queue"), std::string::npos);
}

TEST(error_from, a_default_error_is_a_500) {
  auto err = error_from(caf::error{});
  EXPECT_EQ(err.status, 500);
  EXPECT_EQ(err.type, "internal_error");
}

TEST(format_response, completion_has_text_choices_and_usage) {
  auto doc = parsed(format_response(api_kind::completions, "cmpl-1", 1700000000, "m", "Hello",
                                    "length", usage{5, 3, 2}));
  EXPECT_EQ(doc["id"], "cmpl-1");
  EXPECT_EQ(doc["object"], "text_completion");
  EXPECT_EQ(doc["created"], 1700000000);
  EXPECT_EQ(doc["model"], "m");
  ASSERT_EQ(doc["choices"].size(), 1u);
  EXPECT_EQ(doc["choices"][0]["index"], 0);
  EXPECT_EQ(doc["choices"][0]["text"], "Hello");
  EXPECT_TRUE(doc["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(doc["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(doc["usage"]["completion_tokens"], 3);
  EXPECT_EQ(doc["usage"]["total_tokens"], 8);
  EXPECT_EQ(doc["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
}

TEST(format_response, chat_has_an_assistant_message) {
  auto doc = parsed(format_response(api_kind::chat, "chatcmpl-1", 1, "m", "Hi \"there\"\n",
                                    "stop", usage{1, 2, 0}));
  EXPECT_EQ(doc["object"], "chat.completion");
  EXPECT_EQ(doc["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(doc["choices"][0]["message"]["content"], "Hi \"there\"\n");
  EXPECT_FALSE(doc["choices"][0].contains("text"));
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(doc["usage"]["total_tokens"], 3);
}

TEST(format_response, total_tokens_does_not_overflow) {
  auto doc = parsed(format_response(api_kind::completions, "id", 0, "m", "", "",
                                    usage{UINT32_MAX, UINT32_MAX, 0}));
  EXPECT_EQ(doc["usage"]["total_tokens"].get<uint64_t>(), 2ull * UINT32_MAX);
  EXPECT_TRUE(doc["choices"][0]["finish_reason"].is_null());
}

TEST(format_chunk, first_chat_chunk_carries_the_role) {
  auto doc = parsed(format_chunk(api_kind::chat, "chatcmpl-1", 7, "m", "", std::nullopt, true));
  EXPECT_EQ(doc["object"], "chat.completion.chunk");
  EXPECT_EQ(doc["id"], "chatcmpl-1");
  EXPECT_EQ(doc["created"], 7);
  EXPECT_EQ(doc["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(doc["choices"][0]["delta"]["content"], "");
  EXPECT_TRUE(doc["choices"][0]["finish_reason"].is_null());
}

TEST(format_chunk, later_chat_chunks_carry_only_content) {
  auto doc = parsed(format_chunk(api_kind::chat, "c", 7, "m", "tok", std::nullopt, false));
  EXPECT_FALSE(doc["choices"][0]["delta"].contains("role"));
  EXPECT_EQ(doc["choices"][0]["delta"]["content"], "tok");
}

TEST(format_chunk, final_chat_chunk_has_an_empty_delta_and_the_reason) {
  auto doc = parsed(format_chunk(api_kind::chat, "c", 7, "m", "", std::string{"stop"}, false));
  EXPECT_TRUE(doc["choices"][0]["delta"].is_object());
  EXPECT_TRUE(doc["choices"][0]["delta"].empty());
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "stop");
}

TEST(format_chunk, completion_chunks_carry_text) {
  auto doc = parsed(
    format_chunk(api_kind::completions, "cmpl-2", 9, "m", "abc", std::string{"length"}, true));
  EXPECT_EQ(doc["object"], "text_completion");
  EXPECT_EQ(doc["choices"][0]["text"], "abc");
  EXPECT_FALSE(doc["choices"][0].contains("delta"));
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "length");
}

TEST(format_usage_chunk, has_no_choices_and_the_usage) {
  for (auto kind : {api_kind::completions, api_kind::chat}) {
    auto doc = parsed(format_usage_chunk(kind, "id", 3, "m", usage{10, 4, 6}));
    EXPECT_EQ(doc["object"], kind == api_kind::chat ? "chat.completion.chunk" : "text_completion");
    EXPECT_TRUE(doc["choices"].is_array());
    EXPECT_TRUE(doc["choices"].empty());
    EXPECT_EQ(doc["usage"]["total_tokens"], 14);
    EXPECT_EQ(doc["usage"]["prompt_tokens_details"]["cached_tokens"], 6);
  }
}

TEST(format_models, lists_every_card) {
  std::vector<model_card> cards{{"llama", "dynamo", 100}, {"mock", "me", 200}};
  auto doc = parsed(format_models(cards));
  EXPECT_EQ(doc["object"], "list");
  ASSERT_EQ(doc["data"].size(), 2u);
  EXPECT_EQ(doc["data"][0]["id"], "llama");
  EXPECT_EQ(doc["data"][0]["object"], "model");
  EXPECT_EQ(doc["data"][0]["created"], 100);
  EXPECT_EQ(doc["data"][0]["owned_by"], "dynamo");
  EXPECT_EQ(doc["data"][1]["id"], "mock");
  auto empty = parsed(format_models({}));
  EXPECT_TRUE(empty["data"].is_array());
  EXPECT_TRUE(empty["data"].empty());
}

TEST(format, invalid_utf8_text_still_produces_json) {
  auto doc = parsed(format_chunk(api_kind::chat, "c", 1, "m", "a\xC3", std::nullopt, false));
  EXPECT_EQ(doc["choices"][0]["delta"]["content"], "a\xEF\xBF\xBD");
}

TEST(sse, events_and_done) {
  EXPECT_EQ(sse_event(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  EXPECT_EQ(sse_event("{\n\"a\":1\r\n}\r"), "data: {\ndata: \"a\":1\ndata: }\ndata: \n\n");
}

TEST(make_response_id, prefixes_and_fixed_width_hex) {
  EXPECT_EQ(make_response_id(api_kind::completions, 255), "cmpl-00000000000000ff");
  EXPECT_EQ(make_response_id(api_kind::chat, 0xdeadbeefcafef00d), "chatcmpl-deadbeefcafef00d");
}

TEST(api_kind, has_stable_names) {
  EXPECT_EQ(to_string(api_kind::completions), "completions");
  EXPECT_EQ(to_string(api_kind::chat), "chat");
}

} // namespace
} // namespace dynamo::openai
