#include "dynamo/tokenizer/byte_tokenizer.hpp"

#include "dynamo/tokenizer/utf8.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dynamo::tokenizer {
namespace {

using ::testing::ElementsAre;

const std::string fffd{replacement_character};

std::string round_trip(const tokenizer& tok, std::string_view text) {
  auto ids = tok.encode(text);
  return tok.decode(ids);
}

/// Decodes `ids` through a fresh stream, checking that every delta is valid UTF-8.
std::string stream_decode(const tokenizer& tok, const std::vector<token_id>& ids,
                          bool skip_special = true) {
  auto stream = tok.make_decode_stream(skip_special);
  std::string out;
  for (auto id : ids) {
    auto delta = stream->push(id);
    EXPECT_TRUE(is_valid_utf8(delta)) << "delta after id " << id << " is not valid UTF-8";
    out += delta;
  }
  auto rest = stream->flush();
  EXPECT_TRUE(is_valid_utf8(rest)) << "flush is not valid UTF-8";
  return out + rest;
}

TEST(byte_tokenizer, describes_its_vocabulary) {
  byte_tokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 258u);
  EXPECT_EQ(tok.bos_token_id(), std::optional<token_id>{256});
  EXPECT_EQ(tok.eos_token_id(), std::optional<token_id>{257});
  EXPECT_EQ(tok.name(), "byte");
}

TEST(byte_tokenizer, encodes_one_id_per_byte) {
  byte_tokenizer tok;
  EXPECT_THAT(tok.encode("Hi"), ElementsAre(72, 105));
  EXPECT_THAT(tok.encode("\xC3\xA9"), ElementsAre(0xC3, 0xA9));
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(byte_tokenizer, round_trips_ascii_utf8_emoji_and_invalid_bytes) {
  byte_tokenizer tok;
  const std::vector<std::string> texts{
    "Hello, world!\n\t",
    "gr\xC3\xBC\xC3\x9F \xE6\x97\xA5\xE6\x9C\xAC",         // grüß 日本
    "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",  // emoji, skin-tone modifier
    "\xFF\xFE\x80 \xC3 \xED\xA0\x80",                     // invalid bytes
    std::string{"\0nul\0", 5}};
  for (const auto& text : texts) {
    EXPECT_EQ(round_trip(tok, text), text);
  }
  std::string every_byte;
  for (int b = 0; b < 256; ++b)
    every_byte.push_back(static_cast<char>(b));
  EXPECT_EQ(round_trip(tok, every_byte), every_byte);
}

TEST(byte_tokenizer, never_encodes_specials_from_plain_text) {
  byte_tokenizer tok;
  auto ids = tok.encode("<|bos|>hi<|eos|>");
  for (auto id : ids)
    EXPECT_LT(id, 256u);
  EXPECT_EQ(tok.decode(ids), "<|bos|>hi<|eos|>");
}

TEST(byte_tokenizer, decode_skips_or_renders_specials) {
  byte_tokenizer tok;
  std::vector<token_id> ids{256, 'o', 'k', 257};
  EXPECT_EQ(tok.decode(ids), "ok");
  EXPECT_EQ(tok.decode(ids, true), "ok");
  EXPECT_EQ(tok.decode(ids, false), "<|bos|>ok<|eos|>");
}

TEST(byte_tokenizer, decode_replaces_ids_outside_the_vocabulary) {
  byte_tokenizer tok;
  std::vector<token_id> ids{'a', 258, 'b', 0xFFFFFFFF};
  EXPECT_EQ(tok.decode(ids), "a" + fffd + "b" + fffd);
}

TEST(byte_tokenizer, stream_concatenates_to_the_original_utf8_text) {
  byte_tokenizer tok;
  std::string text = "caf\xC3\xA9 \xE2\x82\xAC 100 \xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC!";
  EXPECT_EQ(stream_decode(tok, tok.encode(text)), text);
}

TEST(byte_tokenizer, stream_holds_back_incomplete_sequences_until_they_complete) {
  byte_tokenizer tok;
  auto stream = tok.make_decode_stream();
  EXPECT_EQ(stream->push('a'), "a");
  EXPECT_EQ(stream->push(0xF0), "");
  EXPECT_EQ(stream->push(0x9F), "");
  EXPECT_EQ(stream->push(0x98), "");
  EXPECT_EQ(stream->push(0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(stream->flush(), "");
}

TEST(byte_tokenizer, stream_replaces_invalid_bytes_once_they_are_certainly_invalid) {
  byte_tokenizer tok;
  auto stream = tok.make_decode_stream();
  EXPECT_EQ(stream->push(0xFF), fffd);           // can never start a sequence
  EXPECT_EQ(stream->push(0xE2), "");             // could still become €
  EXPECT_EQ(stream->push('x'), fffd + "x");      // now it cannot
  EXPECT_EQ(stream->push(0xC3), "");
  EXPECT_EQ(stream->flush(), fffd);              // incomplete at the end
  EXPECT_EQ(stream->push('y'), "y");             // reusable after flush
}

TEST(byte_tokenizer, stream_output_is_valid_utf8_for_arbitrary_bytes) {
  byte_tokenizer tok;
  std::string bytes = "\x80\xC3\xA9\xED\xA0\x80\xF0\x9F\x98\xF4\x90\xE2\x82\xAC\xC0";
  auto out = stream_decode(tok, tok.encode(bytes));
  EXPECT_EQ(out, sanitize_utf8(bytes));
}

TEST(byte_tokenizer, stream_skips_specials_without_breaking_a_sequence) {
  byte_tokenizer tok;
  std::vector<token_id> ids{0xC3, 257, 0xA9, 256};
  EXPECT_EQ(stream_decode(tok, ids), "\xC3\xA9");
}

TEST(byte_tokenizer, stream_renders_specials_when_asked) {
  byte_tokenizer tok;
  std::vector<token_id> ids{'h', 'i', 257};
  EXPECT_EQ(stream_decode(tok, ids, false), "hi<|eos|>");
}

TEST(byte_tokenizer, stream_replaces_ids_outside_the_vocabulary) {
  byte_tokenizer tok;
  std::vector<token_id> ids{0xE2, 0x82, 1000, 'z'};
  EXPECT_EQ(stream_decode(tok, ids), fffd + fffd + "z");
}

} // namespace
} // namespace dynamo::tokenizer
