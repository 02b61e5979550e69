#include "dynamo/tokenizer/pretokenize.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;

std::vector<std::string> run(const std::string& spec, std::string text, bool at_start = true) {
  auto pre = pre_tokenizer::from_json(json::parse(spec));
  EXPECT_TRUE(pre) << describe(pre.error());
  if (!pre)
    return {};
  std::vector<text_piece> pieces{{std::move(text), at_start}};
  pre->apply(pieces);
  std::vector<std::string> out;
  for (auto& p : pieces)
    out.push_back(std::move(p.text));
  return out;
}

std::string split_spec(const std::string& behavior) {
  return R"({"type":"Split","pattern":{"String":"-"},"behavior":")" + behavior
         + R"(","invert":false})";
}

// Expected values are those of tokenizers' pre_tokenize_str.
TEST(pre_tokenizer, split_behaviors_match_tokenizers) {
  EXPECT_THAT(run(split_spec("Removed"), "a--b-c-"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(run(split_spec("Isolated"), "a--b-c-"),
              ElementsAre("a", "-", "-", "b", "-", "c", "-"));
  EXPECT_THAT(run(split_spec("MergedWithPrevious"), "a--b-c-"),
              ElementsAre("a-", "-", "b-", "c-"));
  EXPECT_THAT(run(split_spec("MergedWithNext"), "a--b-c-"),
              ElementsAre("a", "-", "-b", "-c", "-"));
  EXPECT_THAT(run(split_spec("Contiguous"), "a--b-c-"), ElementsAre("a", "--", "b", "-", "c", "-"));
}

TEST(pre_tokenizer, llama3_sequence_splits_then_maps_bytes) {
  auto spec = R"({"type":"Sequence","pretokenizers":[
    {"type":"Split","pattern":{"Regex":"\\p{N}{1,3}| ?\\p{L}+|\\s+"},"behavior":"Isolated","invert":false},
    {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})";
  EXPECT_THAT(run(spec, "hi there 12345"), ElementsAre("hi", "Ġthere", "Ġ", "123", "45"));
}

TEST(pre_tokenizer, byte_level_with_prefix_space_and_regex) {
  auto spec = R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":true})";
  EXPECT_THAT(run(spec, "hi there"), ElementsAre("Ġhi", "Ġthere"));
  EXPECT_THAT(run(R"({"type":"ByteLevel","add_prefix_space":false})", "a  b?!"),
              ElementsAre("a", "Ġ", "Ġb", "?!"));
}

TEST(pre_tokenizer, digits_in_runs_or_one_by_one) {
  EXPECT_THAT(run(R"({"type":"Digits","individual_digits":false})", "ab123c4"),
              ElementsAre("ab", "123", "c", "4"));
  EXPECT_THAT(run(R"({"type":"Digits","individual_digits":true})", "ab123c4"),
              ElementsAre("ab", "1", "2", "3", "c", "4"));
}

TEST(pre_tokenizer, metaspace_schemes) {
  auto always = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})";
  EXPECT_THAT(run(always, "hi  there"), ElementsAre("▁hi", "▁", "▁there"));
  auto never = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false})";
  EXPECT_THAT(run(never, "hi  there"), ElementsAre("hi▁▁there"));
  auto first = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})";
  EXPECT_THAT(run(first, "hi", true), ElementsAre("▁hi"));
  EXPECT_THAT(run(first, "hi", false), ElementsAre("hi"));
  auto legacy = R"({"type":"Metaspace","replacement":"▁","add_prefix_space":true})";
  EXPECT_THAT(run(legacy, "a b"), ElementsAre("▁a", "▁b"));
}

TEST(pre_tokenizer, null_keeps_the_text_whole) {
  EXPECT_THAT(run("null", "a b c"), ElementsAre("a b c"));
}

TEST(pre_tokenizer, unsupported_type_is_named) {
  auto pre = pre_tokenizer::from_json(json::parse(R"({"type":"Whitespace"})"));
  ASSERT_FALSE(pre);
  EXPECT_EQ(classify(pre.error()), errc::invalid_request);
  EXPECT_EQ(client_message(pre.error()), "unsupported pre_tokenizer type 'Whitespace'");
  auto nested = pre_tokenizer::from_json(
    json::parse(R"({"type":"Sequence","pretokenizers":[{"type":"Punctuation"}]})"));
  ASSERT_FALSE(nested);
  EXPECT_EQ(client_message(nested.error()), "unsupported pre_tokenizer type 'Punctuation'");
}

TEST(pre_tokenizer, deeply_nested_sequences_are_rejected) {
  json node{{"type", "Digits"}};
  for (int i = 0; i < 100; ++i)
    node = json{{"type", "Sequence"}, {"pretokenizers", json::array({node})}};
  auto pre = pre_tokenizer::from_json(node);
  ASSERT_FALSE(pre);
  EXPECT_EQ(classify(pre.error()), errc::invalid_request);
}

TEST(pre_tokenizer, bad_regex_and_behavior_are_invalid_requests) {
  auto bad_regex = pre_tokenizer::from_json(json::parse(
    R"({"type":"Split","pattern":{"Regex":"(x"},"behavior":"Isolated","invert":false})"));
  ASSERT_FALSE(bad_regex);
  EXPECT_EQ(classify(bad_regex.error()), errc::invalid_request);
  auto bad_behavior = pre_tokenizer::from_json(json::parse(
    R"({"type":"Split","pattern":{"String":"x"},"behavior":"Sideways","invert":false})"));
  ASSERT_FALSE(bad_behavior);
  EXPECT_EQ(classify(bad_behavior.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::tokenizer
