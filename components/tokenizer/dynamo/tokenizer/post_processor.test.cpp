#include "dynamo/tokenizer/post_processor.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr const char* llama3 = R"({"type":"TemplateProcessing",
  "single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},
            {"Sequence":{"id":"A","type_id":0}}],
  "pair":[],
  "special_tokens":{"<|begin_of_text|>":{"id":"<|begin_of_text|>","ids":[128000],
                                         "tokens":["<|begin_of_text|>"]}}})";

TEST(post_processor, template_tokens_before_a_are_the_prefix) {
  auto prefix = prompt_prefix_from_json(json::parse(llama3));
  ASSERT_TRUE(prefix) << describe(prefix.error());
  EXPECT_THAT(*prefix, ElementsAre(128000u));
}

TEST(post_processor, byte_level_and_null_add_nothing) {
  EXPECT_THAT(*prompt_prefix_from_json(json::parse(R"({"type":"ByteLevel"})")), IsEmpty());
  EXPECT_THAT(*prompt_prefix_from_json(json{}), IsEmpty());
}

TEST(post_processor, roberta_uses_cls_and_sequence_composes) {
  auto roberta = R"({"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",0]})";
  EXPECT_THAT(*prompt_prefix_from_json(json::parse(roberta)), ElementsAre(0u));
  auto seq = json{{"type", "Sequence"},
                  {"processors", json::array({json{{"type", "ByteLevel"}}, json::parse(llama3)})}};
  EXPECT_THAT(*prompt_prefix_from_json(seq), ElementsAre(128000u));
}

TEST(post_processor, errors_name_the_problem) {
  auto unknown = prompt_prefix_from_json(json::parse(R"({"type":"Fancy"})"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(client_message(unknown.error()), "unsupported post_processor type 'Fancy'");
  auto undeclared = prompt_prefix_from_json(json::parse(
    R"({"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<x>","type_id":0}},
        {"Sequence":{"id":"A","type_id":0}}],"special_tokens":{}})"));
  ASSERT_FALSE(undeclared);
  EXPECT_EQ(classify(undeclared.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::tokenizer
