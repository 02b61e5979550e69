#include "dynamo/tokenizer/regex.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/byte_level.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dynamo::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> pieces(const regex& re, std::string_view text) {
  std::vector<std::string> out;
  for (auto [start, end] : re.find_all(text))
    out.emplace_back(text.substr(start, end - start));
  return out;
}

TEST(regex, llama3_pattern_splits_like_tokenizers) {
  auto re = regex::compile(llama3_split_pattern);
  ASSERT_TRUE(re) << describe(re.error());
  EXPECT_THAT(pieces(*re, "Hello world's 12345 CAN'T  x\n\n"),
              ElementsAre("Hello", " world", "'s", " ", "123", "45", " CAN", "'T", " ", " x",
                          "\n\n"));
  EXPECT_THAT(pieces(*re, "東京 ok"), ElementsAre("東京", " ok"));
}

TEST(regex, gpt2_pattern_keeps_trailing_space_apart) {
  auto re = regex::compile(gpt2_split_pattern);
  ASSERT_TRUE(re);
  EXPECT_THAT(pieces(*re, "a  b?!"), ElementsAre("a", " ", " b", "?!"));
}

TEST(regex, literal_quotes_metacharacters) {
  auto re = regex::literal("a.b(");
  ASSERT_TRUE(re);
  EXPECT_THAT(pieces(*re, "a.b( axb( a.b("), ElementsAre("a.b(", "a.b("));
}

TEST(regex, skips_empty_matches) {
  auto re = regex::compile("x*");
  ASSERT_TRUE(re);
  EXPECT_THAT(pieces(*re, "abxxc"), ElementsAre("xx"));
  EXPECT_TRUE(re->find_all("").empty());
}

TEST(regex, invalid_pattern_is_invalid_request) {
  auto re = regex::compile("(unclosed");
  ASSERT_FALSE(re);
  EXPECT_EQ(classify(re.error()), errc::invalid_request);
  EXPECT_THAT(client_message(re.error()), HasSubstr("(unclosed"));
}

} // namespace
} // namespace dynamo::tokenizer
