#include "dynamo/tokenizer/normalize.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {
namespace {

using json = nlohmann::json;

normalizer parse(const char* text) {
  auto n = normalizer::from_json(json::parse(text));
  EXPECT_TRUE(n) << describe(n.error());
  return n ? std::move(*n) : normalizer{};
}

TEST(normalizer, null_is_identity) {
  auto n = parse("null");
  EXPECT_TRUE(n.empty());
  EXPECT_EQ(n.apply("a b"), "a b");
}

TEST(normalizer, llama2_sequence_prepends_and_replaces) {
  auto n = parse(R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},
                     {"type":"Replace","pattern":{"String":" "},"content":"▁"}]})");
  EXPECT_EQ(n.apply("Hi there"), "▁Hi▁there");
  EXPECT_EQ(n.apply(""), "");  // Prepend leaves empty text alone
}

TEST(normalizer, nfc_composes) {
  EXPECT_EQ(parse(R"({"type":"NFC"})").apply("e\xCC\x81"), "\xC3\xA9");
}

TEST(normalizer, replace_with_regex) {
  auto n = parse(R"({"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "})");
  EXPECT_EQ(n.apply("a   b  c d"), "a b c d");
}

TEST(normalizer, unsupported_type_is_named) {
  auto n = normalizer::from_json(json::parse(R"({"type":"BertNormalizer"})"));
  ASSERT_FALSE(n);
  EXPECT_EQ(classify(n.error()), errc::invalid_request);
  EXPECT_EQ(client_message(n.error()), "unsupported normalizer type 'BertNormalizer'");
}

TEST(normalizer, empty_replace_pattern_is_rejected) {
  auto n = normalizer::from_json(
    json::parse(R"({"type":"Replace","pattern":{"String":""},"content":"x"})"));
  ASSERT_FALSE(n);
  EXPECT_EQ(classify(n.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::tokenizer
