#include "dynamo/tokenizer/bpe_model.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

json small_model() {
  return json::parse(R"({"type":"BPE","vocab":{"a":0,"b":1,"c":2,"ab":3,"bc":4,"abc":5,
                         "<unk>":6},"merges":["b c","a b",["ab","c"]]})");
}

std::vector<token_id> encode(const bpe_model& m, std::string_view word) {
  std::vector<token_id> ids;
  m.encode_word(word, ids);
  return ids;
}

TEST(bpe_model, applies_merges_by_rank_in_both_forms) {
  auto m = bpe_model::from_json(small_model());
  ASSERT_TRUE(m) << describe(m.error());
  // "b c" outranks "a b": abc -> a bc, and ("a","bc") is no merge.
  EXPECT_THAT(encode(*m, "abc"), ElementsAre(0u, 4u));
  EXPECT_THAT(encode(*m, "abab"), ElementsAre(3u, 3u));
  EXPECT_THAT(encode(*m, ""), ElementsAre());
  // Cached second time round, same answer.
  EXPECT_THAT(encode(*m, "abc"), ElementsAre(0u, 4u));
}

TEST(bpe_model, ignore_merges_takes_whole_words_from_the_vocabulary) {
  auto spec = small_model();
  spec["ignore_merges"] = true;
  auto m = bpe_model::from_json(spec);
  ASSERT_TRUE(m);
  EXPECT_THAT(encode(*m, "abc"), ElementsAre(5u));
}

TEST(bpe_model, unknown_characters_without_unk_are_dropped) {
  auto m = bpe_model::from_json(small_model());
  ASSERT_TRUE(m);
  EXPECT_THAT(encode(*m, "axxc"), ElementsAre(0u, 2u));
  // Dropped characters let their neighbours merge.
  EXPECT_THAT(encode(*m, "axb"), ElementsAre(3u));
}

TEST(bpe_model, unk_is_fused_when_asked) {
  auto spec = small_model();
  spec["unk_token"] = "<unk>";
  auto plain = bpe_model::from_json(spec);
  ASSERT_TRUE(plain);
  EXPECT_THAT(encode(*plain, "axyb"), ElementsAre(0u, 6u, 6u, 1u));
  spec["fuse_unk"] = true;
  auto fused = bpe_model::from_json(spec);
  ASSERT_TRUE(fused);
  EXPECT_THAT(encode(*fused, "axyb"), ElementsAre(0u, 6u, 1u));
}

TEST(bpe_model, byte_fallback_spells_unknown_characters_in_bytes) {
  auto spec = small_model();
  for (int b = 0; b < 256; ++b)
    spec["vocab"][fmt::format("<0x{:02X}>", b)] = 100 + b;
  spec["byte_fallback"] = true;
  auto m = bpe_model::from_json(spec);
  ASSERT_TRUE(m);
  EXPECT_THAT(encode(*m, "a\xC3\xA9"), ElementsAre(0u, 100u + 0xC3, 100u + 0xA9));
  EXPECT_EQ(m->id_bound(), 356u);
  EXPECT_EQ(*m->id_to_token(100 + 0x41), "<0x41>");
  EXPECT_EQ(m->id_to_token(99), nullptr);
}

TEST(bpe_model, rejects_what_it_cannot_honour) {
  auto prefix = small_model();
  prefix["continuing_subword_prefix"] = "##";
  auto a = bpe_model::from_json(prefix);
  ASSERT_FALSE(a);
  EXPECT_THAT(client_message(a.error()), HasSubstr("continuing_subword_prefix"));
  auto suffix = small_model();
  suffix["end_of_word_suffix"] = "</w>";
  EXPECT_FALSE(bpe_model::from_json(suffix));
  auto bad_merge = small_model();
  bad_merge["merges"].push_back("a z");
  auto b = bpe_model::from_json(bad_merge);
  ASSERT_FALSE(b);
  EXPECT_EQ(classify(b.error()), errc::invalid_request);
  auto three = small_model();
  three["merges"].push_back("a b c");
  EXPECT_FALSE(bpe_model::from_json(three));
  auto wordpiece = json::parse(R"({"type":"WordPiece","vocab":{}})");
  auto c = bpe_model::from_json(wordpiece);
  ASSERT_FALSE(c);
  EXPECT_EQ(client_message(c.error()), "unsupported model type 'WordPiece'");
  auto huge = small_model();
  huge["vocab"]["z"] = 4000000000u;
  EXPECT_FALSE(bpe_model::from_json(huge));
  auto negative = small_model();
  negative["vocab"]["z"] = -1;
  EXPECT_FALSE(bpe_model::from_json(negative));
  auto unk = small_model();
  unk["unk_token"] = "<missing>";
  EXPECT_FALSE(bpe_model::from_json(unk));
}

} // namespace
} // namespace dynamo::tokenizer
