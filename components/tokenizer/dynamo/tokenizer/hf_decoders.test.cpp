#include "dynamo/tokenizer/hf_decoders.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {
namespace {

using json = nlohmann::json;

std::string decode(const char* spec, std::vector<std::string> tokens) {
  auto d = hf_decoder::from_json(json::parse(spec));
  EXPECT_TRUE(d) << describe(d.error());
  return d ? d->decode(std::move(tokens)) : std::string{};
}

constexpr const char* llama2 = R"({"type":"Sequence","decoders":[
  {"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},
  {"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]})";

// Expected values are those of the tokenizers package for the same decoders and tokens.
TEST(hf_decoder, byte_level_maps_back_to_bytes) {
  EXPECT_EQ(decode(R"({"type":"ByteLevel"})", {"Hello", "Ġw", "orld", "Ċ"}), "Hello world\n");
  EXPECT_EQ(decode(R"({"type":"ByteLevel"})", {"æĿ±", "äº¬"}), "東京");
  // A token outside the alphabet passes through as text; a lone byte is U+FFFD.
  EXPECT_EQ(decode(R"({"type":"ByteLevel"})", {"<|im start|>", "a"}), "<|im start|>a");
  EXPECT_EQ(decode(R"({"type":"ByteLevel"})", {"é", "a"}), "\xEF\xBF\xBD" "a");
}

TEST(hf_decoder, metaspace_strips_the_first_token_only) {
  auto spec = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always"})";
  EXPECT_EQ(decode(spec, {"▁a▁b", "▁c"}), "ab c");
  auto never = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never"})";
  EXPECT_EQ(decode(never, {"▁a▁b", "▁c"}), " a b c");
}

TEST(hf_decoder, llama2_chain_with_byte_fallback) {
  EXPECT_EQ(decode(llama2, {"▁Hello", "▁", "<0xE2>", "<0x82>", "<0xAC>", "!"}), "Hello €!");
  // An invalid byte run becomes one U+FFFD per byte.
  EXPECT_EQ(decode(llama2, {"<0xE4>", "<0xBD>", "a"}),
            "\xEF\xBF\xBD\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(decode(llama2, {"<s>", "▁hi"}), "<s> hi");
  EXPECT_EQ(decode(llama2, {}), "");
}

TEST(hf_decoder, strip_removes_at_both_ends) {
  auto spec = R"({"type":"Strip","content":"x","start":2,"stop":1})";
  EXPECT_EQ(decode(spec, {"xxxaxx", "y", "ab"}), "xaxyab");
}

TEST(hf_decoder, null_joins_with_spaces) {
  EXPECT_EQ(decode("null", {"a", "b"}), "a b");
}

TEST(hf_decoder, unsupported_type_is_named) {
  auto d = hf_decoder::from_json(json::parse(R"({"type":"WordPiece","prefix":"##"})"));
  ASSERT_FALSE(d);
  EXPECT_EQ(client_message(d.error()), "unsupported decoder type 'WordPiece'");
  auto bad = hf_decoder::from_json(
    json::parse(R"({"type":"Strip","content":"ab","start":1,"stop":0})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::tokenizer
