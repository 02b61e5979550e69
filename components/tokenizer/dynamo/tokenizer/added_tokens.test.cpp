#include "dynamo/tokenizer/added_tokens.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dynamo::tokenizer {
namespace {

using ::testing::ElementsAre;

std::string identity(const std::string& s) {
  return s;
}

/// Renders a split as "text" for plain stretches and "#id" for tokens.
std::vector<std::string> render(const added_vocabulary& v, std::string_view text,
                                bool match_special, bool normalized = false) {
  std::vector<std::string> out;
  for (const auto& s : v.split(text, normalized, match_special))
    out.push_back(s.token ? "#" + std::to_string(*s.token)
                          : std::string{text.substr(s.start, s.end - s.start)});
  return out;
}

added_vocabulary make(std::vector<added_token> tokens) {
  auto v = added_vocabulary::create(std::move(tokens), identity);
  EXPECT_TRUE(v);
  return v ? std::move(*v) : added_vocabulary{};
}

TEST(added_vocabulary, longest_match_wins) {
  auto v = make({{10, "<|a|>", true}, {11, "<|a|>x", true}});
  EXPECT_THAT(render(v, "1<|a|>x2<|a|>", true), ElementsAre("1", "#11", "2", "#10"));
}

TEST(added_vocabulary, specials_stay_text_unless_asked) {
  auto v = make({{10, "<s>", true}, {11, "<tool>", false}});
  EXPECT_THAT(render(v, "<s>a<tool>", false), ElementsAre("<s>a", "#11"));
  EXPECT_THAT(render(v, "<s>a<tool>", true), ElementsAre("#10", "a", "#11"));
}

TEST(added_vocabulary, lstrip_and_rstrip_swallow_whitespace) {
  added_token mask{7, "<mask>", true, true, true};
  auto v = make({mask});
  EXPECT_THAT(render(v, "a  <mask>  b", true), ElementsAre("a", "#7", "b"));
}

TEST(added_vocabulary, single_word_only_matches_outside_words) {
  added_token word{5, "ok", false};
  word.single_word = true;
  auto v = make({word});
  EXPECT_THAT(render(v, "ok book ok.", true), ElementsAre("#5", " book ", "#5", "."));
}

TEST(added_vocabulary, normalized_tokens_are_searched_in_normalized_text) {
  added_token t{3, "hi", false};
  t.normalized = true;
  auto v = added_vocabulary::create({t}, [](const std::string& s) { return "_" + s; });
  ASSERT_TRUE(v);
  EXPECT_THAT(render(*v, "a_hi", true, false), ElementsAre("a_hi"));
  EXPECT_THAT(render(*v, "a_hi", true, true), ElementsAre("a", "#3"));
}

TEST(added_vocabulary, empty_text_is_one_plain_stretch) {
  auto v = make({{1, "x", true}});
  auto s = v.split("", false, true);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_FALSE(s[0].token);
}

TEST(added_vocabulary, rejects_empty_content_and_repeated_ids) {
  EXPECT_FALSE(added_vocabulary::create({{1, "", true}}, identity));
  EXPECT_FALSE(added_vocabulary::create({{1, "a", true}, {1, "b", true}}, identity));
}

} // namespace
} // namespace dynamo::tokenizer
