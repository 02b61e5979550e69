#include "dynamo/tokenizer/utf8.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace dynamo::tokenizer {
namespace {

const std::string fffd{replacement_character};

TEST(utf8, accepts_well_formed_text) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo"));                 // é
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));                 // €
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));             // 😀
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));             // U+10FFFF
  EXPECT_TRUE(is_valid_utf8(std::string_view{"a\0b", 3}));
}

TEST(utf8, rejects_ill_formed_text) {
  EXPECT_FALSE(is_valid_utf8("\x80"));                  // stray continuation
  EXPECT_FALSE(is_valid_utf8("\xC3"));                  // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));              // overlong
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));          // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));      // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x98"));          // truncated emoji
}

TEST(utf8, sanitize_replaces_each_maximal_subpart_once) {
  EXPECT_EQ(sanitize_utf8("ok"), "ok");
  EXPECT_EQ(sanitize_utf8("a\x80z"), "a" + fffd + "z");
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98z"), fffd + "z");     // one subpart of three bytes
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), fffd + fffd);          // C0 can never start a sequence
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(sanitize_utf8("\xE2\x82"), fffd);                 // incomplete tail
  EXPECT_EQ(sanitize_utf8("\xE2\x82\xE2\x82\xAC"), fffd + "\xE2\x82\xAC");
}

TEST(utf8, incremental_output_matches_one_shot_for_random_bytes) {
  std::mt19937 rng{42};
  std::uniform_int_distribution<int> byte{0, 255};
  std::uniform_int_distribution<int> chunk{0, 5};
  for (int round = 0; round < 500; ++round) {
    std::string input;
    auto length = static_cast<size_t>(byte(rng) % 40);
    for (size_t i = 0; i < length; ++i) {
      // Bias towards bytes that form or nearly form sequences.
      auto b = byte(rng);
      input.push_back(static_cast<char>(b % 3 == 0 ? 0x80 + b % 64 : b));
    }
    utf8_sanitizer sanitizer;
    std::string streamed;
    for (size_t pos = 0; pos < input.size();) {
      auto n = std::min(input.size() - pos, static_cast<size_t>(chunk(rng)));
      auto delta = sanitizer.push(std::string_view{input}.substr(pos, n));
      ASSERT_TRUE(is_valid_utf8(delta)) << "round " << round;
      streamed += delta;
      pos += n;
    }
    streamed += sanitizer.flush();
    EXPECT_EQ(streamed, sanitize_utf8(input)) << "round " << round;
    EXPECT_TRUE(is_valid_utf8(streamed));
    EXPECT_EQ(is_valid_utf8(input), streamed == input) << "round " << round;
  }
}

TEST(utf8, sanitizer_holds_back_only_incomplete_sequences) {
  utf8_sanitizer sanitizer;
  EXPECT_EQ(sanitizer.push("\xF0\x9F"), "");
  EXPECT_TRUE(sanitizer.pending());
  EXPECT_EQ(sanitizer.push("\x98"), "");
  EXPECT_EQ(sanitizer.push("\x80!"), "\xF0\x9F\x98\x80!");
  EXPECT_FALSE(sanitizer.pending());
  EXPECT_EQ(sanitizer.push("\xC3"), "");
  EXPECT_EQ(sanitizer.flush(), fffd);
  EXPECT_FALSE(sanitizer.pending());
  EXPECT_EQ(sanitizer.flush(), "");
}

} // namespace
} // namespace dynamo::tokenizer
