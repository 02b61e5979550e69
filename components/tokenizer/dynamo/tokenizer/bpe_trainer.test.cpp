#include "dynamo/tokenizer/bpe_trainer.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace dynamo::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string sample_corpus() {
  std::string corpus;
  for (int i = 0; i < 20; ++i)
    corpus += "The quick brown fox jumps over the lazy dog. It's 2024, isn't it?\n"
              "Les élèves étudient à l'école. 東京は大きい都市です。 <|eot|> 12345 "
              "the the the there their then\n";
  return corpus;
}

std::shared_ptr<const hf_tokenizer> train_and_load(const bpe_training& opts) {
  auto json = train_bpe(sample_corpus(), opts);
  EXPECT_TRUE(json) << describe(json.error());
  if (!json)
    return nullptr;
  auto tok = parse_hf_tokenizer(*json);
  EXPECT_TRUE(tok) << describe(tok.error());
  return tok ? *tok : nullptr;
}

TEST(bpe_trainer, byte_level_output_loads_and_round_trips) {
  bpe_training opts{bpe_style::byte_level, 340, {"<|endoftext|>", "<|eot|>"}};
  auto tok = train_and_load(opts);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocab_size(), 340u);
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 0u);
  EXPECT_EQ(tok->token_to_id("<|eot|>"), 1u);
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_EQ(tok->eos_token_id(), 0u);
  EXPECT_TRUE(tok->prompt_prefix().empty());
  for (std::string text : {"The quick brown fox", "unseen words: zebra ✓ 🙂", "東京", "",
                           "  spaces\tand\nnewlines  "}) {
    auto ids = tok->encode(text);
    EXPECT_EQ(tok->decode(ids), text);
  }
  // Merges compress the training text.
  EXPECT_LT(tok->encode("the quick brown fox jumps").size(), 12u);
}

TEST(bpe_trainer, specials_in_the_corpus_are_not_learned) {
  bpe_training opts{bpe_style::byte_level, 600, {"<|eot|>"}};
  auto tok = train_and_load(opts);
  ASSERT_TRUE(tok);
  auto plain = tok->encode("<|eot|>");
  EXPECT_GT(plain.size(), 1u);
  EXPECT_THAT(tok->encode_special("<|eot|>"), ElementsAre(0u));
}

TEST(bpe_trainer, sentencepiece_output_loads_with_bos_prefix_and_byte_fallback) {
  bpe_training opts{bpe_style::sentencepiece, 420, {"<unk>", "<s>", "</s>"}};
  auto tok = train_and_load(opts);
  ASSERT_TRUE(tok);
  EXPECT_LE(tok->vocab_size(), 420u);
  EXPECT_THAT(tok->prompt_prefix(), ElementsAre(1u));
  EXPECT_EQ(tok->bos_token_id(), 1u);
  EXPECT_EQ(tok->eos_token_id(), 2u);
  for (std::string text : {"The quick brown fox", "unseen: € ✓ 🙂", "  two  spaces", "x"}) {
    auto ids = tok->encode(text);
    EXPECT_EQ(tok->decode(ids), text);
  }
  // "€" is not in the corpus: it falls back to its three bytes.
  auto ids = tok->encode("€");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(tok->id_to_token(ids[ids.size() - 1]), "<0xAC>");
}

TEST(bpe_trainer, is_deterministic) {
  bpe_training opts{bpe_style::byte_level, 350, {}};
  auto a = train_bpe(sample_corpus(), opts);
  auto b = train_bpe(sample_corpus(), opts);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  opts.style = bpe_style::sentencepiece;
  auto c = train_bpe(sample_corpus(), opts);
  auto d = train_bpe(sample_corpus(), opts);
  ASSERT_TRUE(c && d);
  EXPECT_EQ(*c, *d);
}

TEST(bpe_trainer, small_corpus_yields_a_smaller_vocabulary) {
  auto json = train_bpe("ab", {bpe_style::byte_level, 1000, {}});
  ASSERT_TRUE(json);
  auto tok = parse_hf_tokenizer(*json);
  ASSERT_TRUE(tok);
  EXPECT_EQ((*tok)->vocab_size(), 257u);
  EXPECT_EQ((*tok)->encode("ab").size(), 1u);
}

TEST(bpe_trainer, rejects_bad_options) {
  auto too_small = train_bpe("abc", {bpe_style::byte_level, 200, {}});
  ASSERT_FALSE(too_small);
  EXPECT_EQ(classify(too_small.error()), errc::invalid_request);
  EXPECT_THAT(client_message(too_small.error()), HasSubstr("vocab_size"));
  auto duplicate = train_bpe("abc", {bpe_style::byte_level, 300, {"<s>", "<s>"}});
  ASSERT_FALSE(duplicate);
  EXPECT_THAT(client_message(duplicate.error()), HasSubstr("duplicate"));
  auto empty = train_bpe("abc", {bpe_style::sentencepiece, 300, {""}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(classify(empty.error()), errc::invalid_request);
  auto collides = train_bpe("abc", {bpe_style::sentencepiece, 300, {"<0x41>"}});
  ASSERT_FALSE(collides);
  EXPECT_EQ(classify(collides.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::tokenizer
