#include "dynamo/openai/parse.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace dynamo::openai {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr auto completions = api_kind::completions;
constexpr auto chat = api_kind::chat;

/// Parses a body that must be accepted.
request accepted(std::string_view body, api_kind kind, const parse_limits& limits = {}) {
  auto result = parse_request(body, kind, limits);
  if (auto* err = std::get_if<api_error>(&result)) {
    ADD_FAILURE() << "expected " << body << " to be accepted, got " << err->status << " param '"
                  << err->param << "': " << err->message;
    return {};
  }
  return std::get<request>(std::move(result));
}

/// Parses a body that must be rejected with a 400 invalid_request_error.
api_error rejected(std::string_view body, api_kind kind, const parse_limits& limits = {}) {
  auto result = parse_request(body, kind, limits);
  if (std::holds_alternative<request>(result)) {
    ADD_FAILURE() << "expected " << body << " to be rejected";
    return {};
  }
  auto err = std::get<api_error>(std::move(result));
  EXPECT_EQ(err.status, 400) << body;
  EXPECT_EQ(err.type, "invalid_request_error") << body;
  EXPECT_FALSE(err.message.empty()) << body;
  return err;
}

// -- accepted requests -----------------------------------------------------------------------

TEST(parse_request, minimal_completion_gets_defaults) {
  auto req = accepted(R"({"model":"m","prompt":"Hello"})", completions);
  EXPECT_EQ(req.kind, completions);
  EXPECT_EQ(req.model, "m");
  EXPECT_EQ(req.prompt, "Hello");
  EXPECT_TRUE(req.messages.empty());
  EXPECT_EQ(req.max_tokens, 16u);
  EXPECT_FALSE(req.temperature);
  EXPECT_FALSE(req.top_p);
  EXPECT_FALSE(req.top_k);
  EXPECT_FALSE(req.seed);
  EXPECT_TRUE(req.stop.empty());
  EXPECT_FALSE(req.stream);
  EXPECT_FALSE(req.include_usage);
  EXPECT_FALSE(req.ignore_eos);
  EXPECT_EQ(req.user, "");
}

TEST(parse_request, completion_prompt_may_be_an_array_of_one_string) {
  EXPECT_EQ(accepted(R"({"model":"m","prompt":["only one"]})", completions).prompt, "only one");
  EXPECT_EQ(accepted(R"({"model":"m","prompt":""})", completions).prompt, "");
}

TEST(parse_request, minimal_chat_keeps_roles_and_content) {
  auto req = accepted(R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
                                                   {"role":"user","content":"Hi"}]})",
                      chat);
  EXPECT_EQ(req.kind, chat);
  EXPECT_EQ(req.prompt, "");
  ASSERT_EQ(req.messages.size(), 2u);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[0].content, "Be brief.");
  EXPECT_EQ(req.messages[1].role, "user");
  EXPECT_EQ(req.messages[1].content, "Hi");
  EXPECT_EQ(req.max_tokens, 16u);
}

TEST(parse_request, chat_accepts_every_known_role) {
  auto req = accepted(R"({"model":"m","messages":[{"role":"developer","content":"d"},
      {"role":"system","content":"s"},{"role":"user","content":"u"},
      {"role":"assistant","content":"a"},{"role":"tool","content":"t","tool_call_id":"x"}]})",
                      chat);
  ASSERT_EQ(req.messages.size(), 5u);
  EXPECT_EQ(req.messages[4].role, "tool");
  EXPECT_EQ(req.messages[4].content, "t");
}

TEST(parse_request, chat_text_parts_are_concatenated) {
  auto req = accepted(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"Hello, "},{"type":"text","text":"world"}]}]})",
                      chat);
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].content, "Hello, world");
  auto empty = accepted(R"({"model":"m","messages":[{"role":"user","content":[]}]})", chat);
  EXPECT_EQ(empty.messages.at(0).content, "");
}

TEST(parse_request, assistant_content_may_be_null_or_absent) {
  auto req = accepted(R"({"model":"m","messages":[{"role":"user","content":"q"},
      {"role":"assistant","content":null,"tool_calls":[]},{"role":"assistant"}]})",
                      chat);
  ASSERT_EQ(req.messages.size(), 3u);
  EXPECT_EQ(req.messages[1].content, "");
  EXPECT_EQ(req.messages[2].content, "");
}

TEST(parse_request, every_supported_field_is_read) {
  auto req = accepted(R"({"model":"llama","prompt":"p","max_tokens":100,"temperature":0.5,
      "top_p":0.9,"top_k":40,"seed":7,"stop":["\n\n","END"],"stream":true,
      "stream_options":{"include_usage":true},"n":1,"nvext":{"ignore_eos":true},"user":"u-1"})",
                      completions);
  EXPECT_EQ(req.model, "llama");
  EXPECT_EQ(req.max_tokens, 100u);
  EXPECT_FLOAT_EQ(req.temperature.value_or(-1), 0.5f);
  EXPECT_FLOAT_EQ(req.top_p.value_or(-1), 0.9f);
  EXPECT_EQ(req.top_k, std::optional<int32_t>{40});
  EXPECT_EQ(req.seed, std::optional<uint64_t>{7});
  EXPECT_THAT(req.stop, ElementsAre("\n\n", "END"));
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);
  EXPECT_TRUE(req.ignore_eos);
  EXPECT_EQ(req.user, "u-1");
}

TEST(parse_request, stop_may_be_a_single_string) {
  EXPECT_THAT(accepted(R"({"model":"m","prompt":"p","stop":"###"})", completions).stop,
              ElementsAre("###"));
  EXPECT_TRUE(accepted(R"({"model":"m","prompt":"p","stop":[]})", completions).stop.empty());
}

TEST(parse_request, top_level_ignore_eos_is_accepted) {
  EXPECT_TRUE(accepted(R"({"model":"m","prompt":"p","ignore_eos":true})", completions).ignore_eos);
  EXPECT_FALSE(
    accepted(R"({"model":"m","prompt":"p","nvext":{"ignore_eos":false}})", completions).ignore_eos);
  EXPECT_TRUE(accepted(R"({"model":"m","prompt":"p","nvext":{}, "ignore_eos":true})", completions)
                .ignore_eos);
}

TEST(parse_request, max_completion_tokens_wins_over_max_tokens) {
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","max_tokens":10,"max_completion_tokens":20})",
                     completions)
              .max_tokens,
            20u);
  EXPECT_EQ(accepted(R"({"model":"m","messages":[{"role":"user","content":"q"}],
                         "max_completion_tokens":5})",
                     chat)
              .max_tokens,
            5u);
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","max_tokens":7,"max_completion_tokens":7})",
                     completions)
              .max_tokens,
            7u);
}

TEST(parse_request, default_max_tokens_comes_from_the_limits_for_both_kinds) {
  parse_limits limits;
  limits.default_max_tokens = 64;
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p"})", completions, limits).max_tokens, 64u);
  EXPECT_EQ(accepted(R"({"model":"m","messages":[{"role":"user","content":"q"}]})", chat, limits)
              .max_tokens,
            64u);
  limits.max_tokens_limit = 32;
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p"})", completions, limits).max_tokens, 32u);
}

TEST(parse_request, max_tokens_boundaries) {
  parse_limits limits;
  limits.max_tokens_limit = 100;
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","max_tokens":1})", completions, limits)
              .max_tokens,
            1u);
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","max_tokens":100})", completions, limits)
              .max_tokens,
            100u);
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","max_tokens":16.0})", completions, limits)
              .max_tokens,
            16u);
}

TEST(parse_request, null_optional_fields_mean_not_given) {
  auto req = accepted(R"({"model":"m","prompt":"p","max_tokens":null,"temperature":null,
      "top_p":null,"top_k":null,"seed":null,"stop":null,"stream":null,"stream_options":null,
      "n":null,"nvext":null,"ignore_eos":null,"user":null})",
                      completions);
  EXPECT_EQ(req.max_tokens, 16u);
  EXPECT_FALSE(req.temperature);
  EXPECT_FALSE(req.seed);
  EXPECT_FALSE(req.stream);
}

TEST(parse_request, unknown_fields_are_ignored) {
  auto req = accepted(R"({"model":"m","prompt":"p","logit_bias":{"1":2},"frequency_penalty":0,
      "metadata":{"a":[1,2,{"b":null}]},"x-unknown":"y","messages":"not checked for completions"})",
                      completions);
  EXPECT_EQ(req.prompt, "p");
  EXPECT_TRUE(req.messages.empty());
}

TEST(parse_request, sampling_boundaries_are_inclusive_where_documented) {
  EXPECT_FLOAT_EQ(*accepted(R"({"model":"m","prompt":"p","temperature":0})", completions)
                     .temperature,
                  0.0f);
  EXPECT_FLOAT_EQ(*accepted(R"({"model":"m","prompt":"p","temperature":2})", completions)
                     .temperature,
                  2.0f);
  EXPECT_FLOAT_EQ(*accepted(R"({"model":"m","prompt":"p","top_p":1})", completions).top_p, 1.0f);
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","top_k":0})", completions).top_k,
            std::optional<int32_t>{0});
}

TEST(parse_request, seeds_cover_the_64_bit_range) {
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","seed":18446744073709551615})", completions)
              .seed,
            std::optional<uint64_t>{UINT64_MAX});
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","seed":-1})", completions).seed,
            std::optional<uint64_t>{UINT64_MAX});
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","seed":42.0})", completions).seed,
            std::optional<uint64_t>{42});
}

TEST(parse_request, limits_on_stop_sequences_and_messages_are_configurable) {
  parse_limits limits;
  limits.max_stop_sequences = 2;
  limits.max_messages = 2;
  EXPECT_EQ(rejected(R"({"model":"m","prompt":"p","stop":["a","b","c"]})", completions, limits)
              .param,
            "stop");
  EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"1"},
      {"role":"assistant","content":"2"},{"role":"user","content":"3"}]})",
                     chat, limits)
              .param,
            "messages");
  EXPECT_EQ(accepted(R"({"model":"m","prompt":"p","stop":["a","b"]})", completions, limits)
              .stop.size(),
            2u);
}

// -- rejected requests -----------------------------------------------------------------------

TEST(parse_request, malformed_json_is_invalid_json) {
  for (std::string_view body : {"", "{", "{\"model\":}", "not json", "{\"a\":1}}", "\xff\xfe"}) {
    auto err = rejected(body, completions);
    EXPECT_EQ(err.code, "invalid_json") << body;
    EXPECT_EQ(err.param, "") << body;
  }
}

TEST(parse_request, body_must_be_an_object) {
  for (std::string_view body : {"[]", "\"text\"", "42", "null", "true"}) {
    auto err = rejected(body, chat);
    EXPECT_EQ(err.param, "") << body;
    EXPECT_EQ(err.code, "invalid_type") << body;
  }
}

TEST(parse_request, batched_prompts_are_rejected_with_a_clear_message) {
  auto err = rejected(R"({"model":"m","prompt":["a","b"]})", completions);
  EXPECT_EQ(err.param, "prompt");
  EXPECT_THAT(err.message, HasSubstr("batched prompts are not supported"));
  EXPECT_THAT(rejected(R"({"model":"m","prompt":[[1,2],[3]]})", completions).message,
              HasSubstr("batched prompts are not supported"));
}

// -- token-id prompts ------------------------------------------------------------------------

TEST(parse_request, completion_prompt_may_be_token_ids) {
  auto req = accepted(R"({"model":"m","prompt":[1,0,4294967295,7.0]})", completions);
  EXPECT_THAT(req.prompt_token_ids, ElementsAre(1u, 0u, 4294967295u, 7u));
  EXPECT_EQ(req.prompt, "");
  EXPECT_THAT(accepted(R"({"model":"m","prompt":[[5,6]]})", completions).prompt_token_ids,
              ElementsAre(5u, 6u));
  EXPECT_THAT(accepted(R"({"model":"m","prompt":[42]})", completions).prompt_token_ids,
              ElementsAre(42u));
}

TEST(parse_request, text_prompts_leave_token_ids_empty) {
  EXPECT_TRUE(accepted(R"({"model":"m","prompt":"p"})", completions).prompt_token_ids.empty());
  EXPECT_TRUE(accepted(R"({"model":"m","prompt":["p"]})", completions).prompt_token_ids.empty());
}

TEST(parse_request, bad_token_ids_name_the_prompt_and_the_index) {
  auto negative = rejected(R"({"model":"m","prompt":[1,-2]})", completions);
  EXPECT_EQ(negative.param, "prompt");
  EXPECT_THAT(negative.message, HasSubstr("'prompt[1]'"));
  auto huge = rejected(R"({"model":"m","prompt":[[1,2,4294967296]]})", completions);
  EXPECT_EQ(huge.param, "prompt");
  EXPECT_THAT(huge.message, HasSubstr("'prompt[0][2]'"));
  auto fraction = rejected(R"({"model":"m","prompt":[1.5]})", completions);
  EXPECT_EQ(fraction.param, "prompt");
  EXPECT_THAT(fraction.message, HasSubstr("integer"));
  auto mixed = rejected(R"({"model":"m","prompt":[1,"a"]})", completions);
  EXPECT_EQ(mixed.param, "prompt");
  EXPECT_THAT(mixed.message, HasSubstr("mixed"));
}

// -- router overrides ------------------------------------------------------------------------

TEST(parse_request, router_overrides_are_read_from_nvext) {
  auto req = accepted(R"({"model":"m","prompt":"p","nvext":{"router_config_override":
                         {"overlap_score_weight":2.5,"router_temperature":0}}})",
                      completions);
  EXPECT_EQ(req.overlap_score_weight, 2.5);
  EXPECT_EQ(req.router_temperature, 0.0);
  auto one = accepted(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                         "nvext":{"router_config_override":{"router_temperature":0.7}}})",
                      chat);
  EXPECT_FALSE(one.overlap_score_weight);
  EXPECT_EQ(one.router_temperature, 0.7);
  auto none = accepted(R"({"model":"m","prompt":"p","nvext":{"router_config_override":{}}})",
                       completions);
  EXPECT_FALSE(none.overlap_score_weight);
  EXPECT_FALSE(none.router_temperature);
  auto nulls = accepted(R"({"model":"m","prompt":"p","nvext":{"router_config_override":null}})",
                        completions);
  EXPECT_FALSE(nulls.overlap_score_weight);
}

struct rule {
  api_kind kind;
  const char* body;
  const char* param;
  const char* code;
};

void PrintTo(const rule& x, std::ostream* os) {
  *os << x.body;
}

class rejection : public ::testing::TestWithParam<rule> {};

TEST_P(rejection, names_the_param_and_code) {
  const auto& x = GetParam();
  auto err = rejected(x.body, x.kind);
  EXPECT_EQ(err.param, x.param);
  EXPECT_EQ(err.code, x.code);
}

#define P_ R"({"model":"m","prompt":"p",)"
#define C_ R"({"model":"m",)"

INSTANTIATE_TEST_SUITE_P(
  model, rejection,
  ::testing::Values(rule{completions, R"({"prompt":"p"})", "model", "missing_required_parameter"},
                    rule{chat, R"({"model":null,"messages":[]})", "model",
                         "missing_required_parameter"},
                    rule{completions, R"({"model":7,"prompt":"p"})", "model", "invalid_type"},
                    rule{completions, R"({"model":"","prompt":"p"})", "model", "invalid_value"}));

INSTANTIATE_TEST_SUITE_P(
  prompt, rejection,
  ::testing::Values(rule{completions, R"({"model":"m"})", "prompt", "missing_required_parameter"},
                    rule{completions, R"({"model":"m","prompt":5})", "prompt", "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":{}})", "prompt", "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":[]})", "prompt", "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":["a","b"]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[[1,2],[3]]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[[]]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[-1]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[4294967296]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[1e30]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[0.5]})", "prompt",
                         "invalid_value"},
                    rule{completions, R"({"model":"m","prompt":[1,true]})", "prompt",
                         "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":[1,[2]]})", "prompt",
                         "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":["a",1]})", "prompt",
                         "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":[[1,"a"]]})", "prompt",
                         "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":[null]})", "prompt",
                         "invalid_type"},
                    rule{completions, R"({"model":"m","prompt":[{}]})", "prompt",
                         "invalid_type"}));

#define R_ R"({"model":"m","prompt":"p","nvext":{"router_config_override":)"

INSTANTIATE_TEST_SUITE_P(
  router_override, rejection,
  ::testing::Values(
    rule{completions, R_ R"(5}})", "nvext.router_config_override", "invalid_type"},
    rule{completions, R_ R"([]}})", "nvext.router_config_override", "invalid_type"},
    rule{completions, R_ R"({"overlap_score_weight":-1}}})",
         "nvext.router_config_override.overlap_score_weight", "invalid_value"},
    rule{completions, R_ R"({"overlap_score_weight":"1"}}})",
         "nvext.router_config_override.overlap_score_weight", "invalid_type"},
    rule{completions, R_ R"({"router_temperature":-0.1}}})",
         "nvext.router_config_override.router_temperature", "invalid_value"},
    rule{completions, R_ R"({"router_temperature":true}}})",
         "nvext.router_config_override.router_temperature", "invalid_type"}));

INSTANTIATE_TEST_SUITE_P(
  messages, rejection,
  ::testing::Values(
    rule{chat, R"({"model":"m"})", "messages", "missing_required_parameter"},
    rule{chat, R"({"model":"m","prompt":"p"})", "messages", "missing_required_parameter"},
    rule{chat, C_ R"("messages":{}})", "messages", "invalid_type"},
    rule{chat, C_ R"("messages":"hi"})", "messages", "invalid_type"},
    rule{chat, C_ R"("messages":[]})", "messages", "invalid_value"},
    rule{chat, C_ R"("messages":["hi"]})", "messages[0]", "invalid_type"},
    rule{chat, C_ R"("messages":[{"content":"x"}]})", "messages[0].role",
         "missing_required_parameter"},
    rule{chat, C_ R"("messages":[{"role":1,"content":"x"}]})", "messages[0].role", "invalid_type"},
    rule{chat, C_ R"("messages":[{"role":"function","content":"x"}]})", "messages[0].role",
         "invalid_value"},
    rule{chat, C_ R"("messages":[{"role":"User","content":"x"}]})", "messages[0].role",
         "invalid_value"},
    rule{chat, C_ R"("messages":[{"role":"user","content":"a"},{"role":"bot","content":"b"}]})",
         "messages[1].role", "invalid_value"},
    rule{chat, C_ R"("messages":[{"role":"user"}]})", "messages[0].content",
         "missing_required_parameter"},
    rule{chat, C_ R"("messages":[{"role":"system","content":null}]})", "messages[0].content",
         "missing_required_parameter"},
    rule{chat, C_ R"("messages":[{"role":"tool"}]})", "messages[0].content",
         "missing_required_parameter"},
    rule{chat, C_ R"("messages":[{"role":"user","content":5}]})", "messages[0].content",
         "invalid_type"},
    rule{chat, C_ R"("messages":[{"role":"user","content":{"text":"x"}}]})",
         "messages[0].content", "invalid_type"},
    rule{chat, C_ R"("messages":[{"role":"user","content":["x"]}]})", "messages[0].content[0]",
         "invalid_type"},
    rule{chat, C_ R"("messages":[{"role":"user","content":[{"text":"x"}]}]})",
         "messages[0].content[0].type", "missing_required_parameter"},
    rule{chat, C_ R"("messages":[{"role":"user","content":[{"type":3,"text":"x"}]}]})",
         "messages[0].content[0].type", "invalid_type"},
    rule{chat,
         C_ R"("messages":[{"role":"user","content":[{"type":"text","text":"a"},
             {"type":"image_url","image_url":{"url":"http://x"}}]}]})",
         "messages[0].content[1].type", "invalid_value"},
    rule{chat, C_ R"("messages":[{"role":"user","content":[{"type":"text"}]}]})",
         "messages[0].content[0].text", "missing_required_parameter"},
    rule{chat, C_ R"("messages":[{"role":"user","content":[{"type":"text","text":1}]}]})",
         "messages[0].content[0].text", "invalid_type"}));

INSTANTIATE_TEST_SUITE_P(
  max_tokens, rejection,
  ::testing::Values(rule{completions, P_ R"("max_tokens":0})", "max_tokens", "invalid_value"},
                    rule{completions, P_ R"("max_tokens":-5})", "max_tokens", "invalid_value"},
                    rule{completions, P_ R"("max_tokens":32769})", "max_tokens", "invalid_value"},
                    rule{completions, P_ R"("max_tokens":1e30})", "max_tokens", "invalid_value"},
                    rule{completions, P_ R"("max_tokens":18446744073709551615})", "max_tokens",
                         "invalid_value"},
                    rule{completions, P_ R"("max_tokens":1.5})", "max_tokens", "invalid_type"},
                    rule{completions, P_ R"("max_tokens":"16"})", "max_tokens", "invalid_type"},
                    rule{completions, P_ R"("max_tokens":true})", "max_tokens", "invalid_type"},
                    rule{completions, P_ R"("max_completion_tokens":0})", "max_completion_tokens",
                         "invalid_value"},
                    rule{completions, P_ R"("max_tokens":4,"max_completion_tokens":"8"})",
                         "max_completion_tokens", "invalid_type"}));

INSTANTIATE_TEST_SUITE_P(
  sampling, rejection,
  ::testing::Values(
    rule{completions, P_ R"("temperature":-0.01})", "temperature", "invalid_value"},
    rule{completions, P_ R"("temperature":2.01})", "temperature", "invalid_value"},
    rule{completions, P_ R"("temperature":"1"})", "temperature", "invalid_type"},
    rule{completions, P_ R"("temperature":[1]})", "temperature", "invalid_type"},
    rule{completions, P_ R"("top_p":0})", "top_p", "invalid_value"},
    rule{completions, P_ R"("top_p":-0.5})", "top_p", "invalid_value"},
    rule{completions, P_ R"("top_p":1.0001})", "top_p", "invalid_value"},
    rule{completions, P_ R"("top_p":false})", "top_p", "invalid_type"},
    rule{completions, P_ R"("top_k":-1})", "top_k", "invalid_value"},
    rule{completions, P_ R"("top_k":2147483648})", "top_k", "invalid_value"},
    rule{completions, P_ R"("top_k":2.5})", "top_k", "invalid_type"},
    rule{completions, P_ R"("top_k":"5"})", "top_k", "invalid_type"},
    rule{completions, P_ R"("seed":"1"})", "seed", "invalid_type"},
    rule{completions, P_ R"("seed":1.5})", "seed", "invalid_type"},
    rule{completions, P_ R"("seed":1e30})", "seed", "invalid_type"},
    rule{completions, P_ R"("seed":{}})", "seed", "invalid_type"}));

INSTANTIATE_TEST_SUITE_P(
  stop, rejection,
  ::testing::Values(rule{completions, P_ R"("stop":5})", "stop", "invalid_type"},
                    rule{completions, P_ R"("stop":{"a":1}})", "stop", "invalid_type"},
                    rule{completions, P_ R"("stop":""})", "stop", "invalid_value"},
                    rule{completions, P_ R"("stop":["a",""]})", "stop", "invalid_value"},
                    rule{completions, P_ R"("stop":["a",1]})", "stop", "invalid_type"},
                    rule{completions, P_ R"("stop":["a",null]})", "stop", "invalid_type"},
                    rule{completions, P_ R"("stop":["a","b","c","d","e"]})", "stop",
                         "invalid_value"}));

INSTANTIATE_TEST_SUITE_P(
  streaming, rejection,
  ::testing::Values(
    rule{completions, P_ R"("stream":"true"})", "stream", "invalid_type"},
    rule{completions, P_ R"("stream":1})", "stream", "invalid_type"},
    rule{completions, P_ R"("stream_options":{"include_usage":true}})", "stream_options",
         "invalid_value"},
    rule{chat, C_ R"("messages":[{"role":"user","content":"q"}],"stream":false,
                   "stream_options":{}})",
         "stream_options", "invalid_value"},
    rule{completions, P_ R"("stream":true,"stream_options":true})", "stream_options",
         "invalid_type"},
    rule{completions, P_ R"("stream":true,"stream_options":{"include_usage":"yes"}})",
         "stream_options.include_usage", "invalid_type"}));

INSTANTIATE_TEST_SUITE_P(
  misc, rejection,
  ::testing::Values(rule{completions, P_ R"("n":2})", "n", "invalid_value"},
                    rule{completions, P_ R"("n":0})", "n", "invalid_value"},
                    rule{completions, P_ R"("n":"1"})", "n", "invalid_type"},
                    rule{completions, P_ R"("n":1.5})", "n", "invalid_type"},
                    rule{completions, P_ R"("nvext":"x"})", "nvext", "invalid_type"},
                    rule{completions, P_ R"("nvext":{"ignore_eos":1}})", "nvext.ignore_eos",
                         "invalid_type"},
                    rule{completions, P_ R"("ignore_eos":"yes"})", "ignore_eos", "invalid_type"},
                    rule{completions, P_ R"("user":5})", "user", "invalid_type"}));

#undef P_
#undef C_
#undef R_

} // namespace
} // namespace dynamo::openai
