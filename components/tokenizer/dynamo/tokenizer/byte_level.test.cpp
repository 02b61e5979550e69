#include "dynamo/tokenizer/byte_level.hpp"

#include "dynamo/tokenizer/unicode.hpp"

#include <gtest/gtest.h>

namespace dynamo::tokenizer {
namespace {

TEST(byte_level, matches_gpt2_alphabet) {
  EXPECT_EQ(byte_chars[' '], U'\u0120');   // "Ġ"
  EXPECT_EQ(byte_chars['\n'], U'\u010A');  // "Ċ"
  EXPECT_EQ(byte_chars['a'], U'a');
  EXPECT_EQ(byte_chars[0xAD], U'\u0143');  // the last remapped byte
  EXPECT_EQ(byte_of_char(U'\u0120'), uint8_t{' '});
  EXPECT_FALSE(byte_of_char(U' ').has_value());
  EXPECT_FALSE(byte_of_char(U'\u2581').has_value());
}

TEST(byte_level, round_trips_every_byte) {
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  std::string mapped;
  append_byte_level(all, mapped);
  std::string back;
  ASSERT_TRUE(append_bytes_of(mapped, back));
  EXPECT_EQ(back, all);
}

TEST(byte_level, rejects_characters_outside_the_alphabet) {
  std::string out = "kept";
  EXPECT_FALSE(append_bytes_of("a b", out));
  EXPECT_EQ(out, "kept");
}

TEST(unicode, normalizes_and_classifies) {
  EXPECT_EQ(to_nfc("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(to_normal_form("\xC3\xA9", normal_form::nfd), "e\xCC\x81");
  EXPECT_EQ(to_normal_form("\xEF\xAC\x81", normal_form::nfkc), "fi");
  EXPECT_TRUE(is_numeric(U'7'));
  EXPECT_TRUE(is_numeric(U'\u00BD'));  // ½ (No)
  EXPECT_FALSE(is_numeric(U'x'));
  EXPECT_TRUE(is_white_space(U'\u3000'));
  EXPECT_FALSE(is_white_space(U'\u200B'));
  EXPECT_TRUE(is_word_char(U'\u00E9'));
  EXPECT_FALSE(is_word_char(U'-'));
  auto ch = next_char("\xF0\x9F\x99\x82", 0);
  EXPECT_EQ(ch.code_point, U'\U0001F642');
  EXPECT_EQ(ch.size, 4u);
  EXPECT_EQ(next_char("\xFF", 0).size, 1u);
}

} // namespace
} // namespace dynamo::tokenizer
