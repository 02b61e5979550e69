#include "dynamo/openai/stop_matcher.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace dynamo::openai {
namespace {

/// Feeds `pieces` one by one; returns everything emitted (plus flush if never stopped).
struct run_result {
  std::string text;
  bool stopped = false;
  std::string matched;
};

run_result run(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  stop_matcher matcher{std::move(stops)};
  run_result result;
  for (const auto& piece : pieces) {
    auto step = matcher.push(piece);
    result.text += step.emit;
    if (step.stopped) {
      result.stopped = true;
      result.matched = matcher.matched();
      return result;
    }
  }
  result.text += matcher.flush();
  return result;
}

/// Splits `text` into single bytes.
std::vector<std::string> bytes_of(const std::string& text) {
  std::vector<std::string> out;
  for (char c : text)
    out.emplace_back(1, c);
  return out;
}

TEST(stop_matcher, without_stops_everything_passes_through) {
  stop_matcher matcher{{}};
  auto step = matcher.push("hello ");
  EXPECT_EQ(step.emit, "hello ");
  EXPECT_FALSE(step.stopped);
  EXPECT_EQ(matcher.push("world").emit, "world");
  EXPECT_EQ(matcher.flush(), "");
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.matched(), "");
}

TEST(stop_matcher, empty_stop_strings_are_ignored) {
  auto result = run({"", ""}, {"abc"});
  EXPECT_FALSE(result.stopped);
  EXPECT_EQ(result.text, "abc");
}

TEST(stop_matcher, stop_within_one_piece) {
  stop_matcher matcher{{"END"}};
  auto step = matcher.push("some textENDmore");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.emit, "some text");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.matched(), "END");
  auto after = matcher.push("ignored");
  EXPECT_TRUE(after.stopped);
  EXPECT_EQ(after.emit, "");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(stop_matcher, holds_back_a_possible_prefix_and_releases_it_on_mismatch) {
  stop_matcher matcher{{"\n\n"}};
  EXPECT_EQ(matcher.push("line\n").emit, "line");
  auto step = matcher.push("next");
  EXPECT_FALSE(step.stopped);
  EXPECT_EQ(step.emit, "\nnext");
}

TEST(stop_matcher, stop_spanning_many_pieces) {
  stop_matcher matcher{{"<|end|>"}};
  EXPECT_EQ(matcher.push("answer <").emit, "answer ");
  EXPECT_EQ(matcher.push("|").emit, "");
  EXPECT_EQ(matcher.push("en").emit, "");
  auto step = matcher.push("d|> trailing");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.emit, "");
  EXPECT_EQ(matcher.matched(), "<|end|>");
}

TEST(stop_matcher, flush_returns_a_held_back_partial_match) {
  stop_matcher matcher{{"STOP"}};
  EXPECT_EQ(matcher.push("abcST").emit, "abc");
  EXPECT_EQ(matcher.flush(), "ST");
}

TEST(stop_matcher, overlapping_self_prefix_is_found) {
  // "aab" inside "aaab": after "aa" the matcher must not lose the second 'a' as a match start.
  auto result = run({"aab"}, bytes_of("xaaab!"));
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.text, "xa");
}

TEST(stop_matcher, overlapping_candidates_earliest_end_wins) {
  EXPECT_EQ(run({"abcd", "bc"}, {"xabcdy"}).text, "xa");
  EXPECT_EQ(run({"abcd", "bc"}, bytes_of("xabcdy")).text, "xa");
  EXPECT_EQ(run({"abcd", "c"}, {"xabcd"}).text, "xab");
  // Equal ends: the longer (earlier-starting) stop string wins.
  auto tie = run({"bc", "abc"}, {"xabc"});
  EXPECT_EQ(tie.text, "x");
  EXPECT_EQ(tie.matched, "abc");
}

TEST(stop_matcher, multiple_stop_strings) {
  auto first = run({"###", "\n\n", "Human:"}, {"Hi there.", "\n", "\nHuman: next"});
  EXPECT_TRUE(first.stopped);
  EXPECT_EQ(first.text, "Hi there.");
  EXPECT_EQ(first.matched, "\n\n");
  auto second = run({"###", "\n\n", "Human:"}, {"A\nB #", "# Human", ":"});
  EXPECT_TRUE(second.stopped);
  EXPECT_EQ(second.text, "A\nB ## ");
  EXPECT_EQ(second.matched, "Human:");
  auto none = run({"###", "\n\n"}, {"no stop ", "here #", "#"});
  EXPECT_FALSE(none.stopped);
  EXPECT_EQ(none.text, "no stop here ##");
}

TEST(stop_matcher, never_cuts_inside_a_utf8_sequence) {
  // "é" is C3 A9; pushing the lead byte alone must not emit it.
  stop_matcher matcher{{}};
  EXPECT_EQ(matcher.push("caf\xC3").emit, "caf");
  EXPECT_EQ(matcher.push("\xA9!").emit, "\xC3\xA9!");
  stop_matcher emoji{{"END"}};
  EXPECT_EQ(emoji.push("\xF0\x9F").emit, "");
  EXPECT_EQ(emoji.push("\x98").emit, "");
  EXPECT_EQ(emoji.push("\x80 E").emit, "\xF0\x9F\x98\x80 ");
}

TEST(stop_matcher, multibyte_stop_strings) {
  auto result = run({"\xE3\x80\x82"}, bytes_of("\xE6\x97\xA5\xE6\x9C\xAC\xE3\x80\x82rest"));
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.text, "\xE6\x97\xA5\xE6\x9C\xAC");
}

TEST(stop_matcher, result_does_not_depend_on_how_the_text_is_split) {
  std::mt19937 rng{7};
  const std::vector<std::string> stops{"aba", "bab", "cc", "abcab", "\xC3\xA9x"};
  const char alphabet[] = {'a', 'b', 'c', 'x'};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    for (auto n = rng() % 30; n > 0; --n) {
      if (rng() % 8 == 0)
        text += "\xC3\xA9";
      else
        text += alphabet[rng() % 4];
    }
    auto whole = run(stops, {text});
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      auto n = std::min<size_t>(text.size() - pos, 1 + rng() % 4);
      pieces.push_back(text.substr(pos, n));
      pos += n;
    }
    auto split = run(stops, pieces);
    EXPECT_EQ(split.text, whole.text) << text;
    EXPECT_EQ(split.stopped, whole.stopped) << text;
    EXPECT_EQ(split.matched, whole.matched) << text;
    for (const auto& stop : stops)
      EXPECT_EQ(split.text.find(stop), std::string::npos) << text << " contains " << stop;
    if (!whole.stopped) {
      EXPECT_EQ(whole.text, text);
    } else {
      EXPECT_EQ(text.rfind(whole.text, 0), 0u) << "output must be a prefix of the text";
    }
  }
}

} // namespace
} // namespace dynamo::openai
