#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/bpe_trainer.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

namespace dynamo::tokenizer {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string fffd{replacement_character};

/// A tiny Llama 2 style tokenizer: <unk> <s> </s>, 256 byte tokens (3..258), then
/// "▁" 259, "h" 260, "i" 261, "▁h" 262, "▁hi" 263.
json llama2_doc() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b)
    vocab[fmt::format("<0x{:02X}>", b)] = 3 + b;
  vocab["▁"] = 259;
  vocab["h"] = 260;
  vocab["i"] = 261;
  vocab["▁h"] = 262;
  vocab["▁hi"] = 263;
  auto special = [](int id, const char* content) {
    return json{{"id", id},         {"content", content}, {"single_word", false},
                {"lstrip", false},  {"rstrip", false},    {"normalized", false},
                {"special", true}};
  };
  return json{
    {"version", "1.0"},
    {"added_tokens", json::array({special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")})},
    {"normalizer", json::parse(R"({"type":"Sequence","normalizers":[
       {"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]})")},
    {"pre_tokenizer", nullptr},
    {"post_processor", json::parse(R"({"type":"TemplateProcessing",
       "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
       "pair":[],"special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}})")},
    {"decoder", json::parse(R"({"type":"Sequence","decoders":[
       {"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},
       {"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]})")},
    {"model", {{"type", "BPE"},
               {"unk_token", "<unk>"},
               {"fuse_unk", true},
               {"byte_fallback", true},
               {"vocab", vocab},
               {"merges", json::array({"▁ h", json::array({"▁h", "i"})})}}}};
}

std::shared_ptr<const hf_tokenizer> load(const json& doc, const std::string& config = "") {
  auto tok = parse_hf_tokenizer(doc.dump(), config);
  EXPECT_TRUE(tok) << describe(tok.error());
  return tok ? *tok : nullptr;
}

/// Streams `ids`, checking every delta is valid UTF-8; returns the concatenation.
std::string stream_all(const tokenizer& tok, const std::vector<token_id>& ids,
                       std::vector<std::string>* deltas = nullptr, bool skip_special = true) {
  auto stream = tok.make_decode_stream(skip_special);
  std::string out;
  auto add = [&](std::string d) {
    EXPECT_TRUE(is_valid_utf8(d)) << "invalid delta";
    out += d;
    if (deltas)
      deltas->push_back(std::move(d));
  };
  for (auto id : ids)
    add(stream->push(id));
  add(stream->flush());
  return out;
}

TEST(hf_tokenizer, llama2_style_encodes_with_merges_and_byte_fallback) {
  auto tok = load(llama2_doc());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocab_size(), 264u);
  EXPECT_EQ(tok->name(), "hf-bpe");
  EXPECT_THAT(tok->encode("hi hi"), ElementsAre(263u, 263u));
  EXPECT_THAT(tok->encode("hi€"), ElementsAre(263u, 3u + 0xE2, 3u + 0x82, 3u + 0xAC));
  EXPECT_THAT(tok->encode(""), IsEmpty());
  EXPECT_EQ(tok->decode(tok->encode("hi€ hi")), "hi€ hi");
}

TEST(hf_tokenizer, specials_match_only_in_encode_special) {
  auto tok = load(llama2_doc());
  ASSERT_TRUE(tok);
  // Each stretch between added tokens is normalized on its own: "hi" becomes "▁hi".
  EXPECT_THAT(tok->encode_special("<s>hi"), ElementsAre(1u, 263u));
  auto plain = tok->encode("<s>hi");
  EXPECT_GT(plain.size(), 2u);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1u), 0);
  EXPECT_EQ(tok->decode(plain), "<s>hi");
}

TEST(hf_tokenizer, decode_skips_or_renders_specials_and_marks_unknown_ids) {
  auto tok = load(llama2_doc());
  ASSERT_TRUE(tok);
  std::vector<token_id> ids{1, 263, 2};
  EXPECT_EQ(tok->decode(ids, true), "hi");
  EXPECT_EQ(tok->decode(ids, false), "<s> hi</s>");
  std::vector<token_id> unknown{263, 9999};
  EXPECT_EQ(tok->decode(unknown), "hi" + fffd);
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(263));
  EXPECT_EQ(tok->token_to_id("▁hi"), 263u);
  EXPECT_EQ(tok->id_to_token(2), "</s>");
  EXPECT_FALSE(tok->id_to_token(9999));
}

TEST(hf_tokenizer, prefix_bos_and_eos_follow_the_config) {
  auto bare = load(llama2_doc());
  ASSERT_TRUE(bare);
  EXPECT_THAT(bare->prompt_prefix(), ElementsAre(1u));
  EXPECT_EQ(bare->bos_token_id(), 1u);  // well-known names when there is no config
  EXPECT_EQ(bare->eos_token_id(), 2u);
  auto configured = load(llama2_doc(), R"({"bos_token":{"content":"<s>","lstrip":false},
                                           "eos_token":"</s>","add_bos_token":false})");
  ASSERT_TRUE(configured);
  EXPECT_THAT(configured->prompt_prefix(), IsEmpty());
  EXPECT_EQ(configured->bos_token_id(), 1u);
  EXPECT_EQ(configured->eos_token_id(), 2u);
  auto no_template = llama2_doc();
  no_template["post_processor"] = nullptr;
  auto added = load(no_template, R"({"bos_token":"<s>","eos_token":null,"add_bos_token":true})");
  ASSERT_TRUE(added);
  EXPECT_THAT(added->prompt_prefix(), ElementsAre(1u));
  EXPECT_FALSE(added->eos_token_id());
}

TEST(hf_tokenizer, stream_strips_the_leading_space_once_and_waits_for_whole_characters) {
  auto tok = load(llama2_doc());
  ASSERT_TRUE(tok);
  std::vector<token_id> ids{1, 263, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 263};
  std::vector<std::string> deltas;
  auto text = stream_all(*tok, ids, &deltas);
  EXPECT_EQ(text, tok->decode(ids));
  EXPECT_THAT(deltas, ElementsAre("", "hi", "", "", "€", " hi", ""));
  // Specials rendered: the stream still equals decode.
  EXPECT_EQ(stream_all(*tok, ids, nullptr, false), tok->decode(ids, false));
}

TEST(hf_tokenizer, stream_keeps_spaces_across_long_runs_of_skipped_specials) {
  auto tok = load(llama2_doc());
  ASSERT_TRUE(tok);
  std::vector<token_id> ids{263};
  ids.insert(ids.end(), 100, 2u);
  ids.push_back(263);
  EXPECT_EQ(stream_all(*tok, ids), "hi hi");
  EXPECT_EQ(tok->decode(ids), "hi hi");
  // A leading "▁" decodes to nothing on its own but still spaces what follows.
  std::vector<token_id> spaces{259, 259, 263};
  EXPECT_EQ(stream_all(*tok, spaces), tok->decode(spaces));
  EXPECT_EQ(tok->decode(spaces), "  hi");
}

TEST(hf_tokenizer, stream_flushes_incomplete_bytes_and_resets) {
  auto tok = load(llama2_doc());
  ASSERT_TRUE(tok);
  auto stream = tok->make_decode_stream();
  EXPECT_EQ(stream->push(263), "hi");
  EXPECT_EQ(stream->push(3 + 0xE2), "");
  EXPECT_EQ(stream->flush(), fffd);
  // After a flush the stream starts afresh: the leading space is stripped again.
  EXPECT_EQ(stream->push(263), "hi");
  EXPECT_EQ(stream->push(9999), "");
  EXPECT_EQ(stream->push(263), fffd + " hi");
  EXPECT_EQ(stream->flush(), "");
}

TEST(hf_tokenizer, byte_level_stream_never_splits_characters) {
  auto trained = train_bpe("hello world 東京 🙂 👨‍👩‍👧 e\xCC\x81", {bpe_style::byte_level, 270, {}});
  ASSERT_TRUE(trained);
  auto tok = parse_hf_tokenizer(*trained);
  ASSERT_TRUE(tok);
  for (std::string text : {"東京🙂", "👨‍👩‍👧 and é", "plain ascii", "x\xF0\x9F"}) {
    auto ids = (*tok)->encode(text);
    std::vector<std::string> deltas;
    EXPECT_EQ(stream_all(**tok, ids, &deltas), (*tok)->decode(ids));
  }
  // Invalid input is encoded as U+FFFD.
  EXPECT_EQ((*tok)->decode((*tok)->encode("a\xFF" "b")), "a" + fffd + "b");
}

TEST(hf_tokenizer, concurrent_encoders_agree) {
  std::string corpus;
  for (int i = 0; i < 50; ++i)
    corpus += fmt::format("word{} another{} the quick brown fox {}\n", i, i * 7, i * 13);
  auto trained = train_bpe(corpus, {bpe_style::byte_level, 400, {}});
  ASSERT_TRUE(trained);
  auto tok = parse_hf_tokenizer(*trained);
  ASSERT_TRUE(tok);
  auto expected = (*tok)->encode(corpus);
  std::vector<std::vector<token_id>> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([tok = *tok, &corpus, &results, t] { results[t] = tok->encode(corpus); });
  for (auto& t : threads)
    t.join();
  for (const auto& r : results)
    EXPECT_EQ(r, expected);
  EXPECT_EQ((*tok)->decode(expected), corpus);
}

TEST(hf_tokenizer, unsupported_components_and_bad_json_are_invalid_requests) {
  auto doc = llama2_doc();
  doc["pre_tokenizer"] = {{"type", "Whitespace"}};
  auto tok = parse_hf_tokenizer(doc.dump());
  ASSERT_FALSE(tok);
  EXPECT_EQ(classify(tok.error()), errc::invalid_request);
  EXPECT_EQ(client_message(tok.error()), "unsupported pre_tokenizer type 'Whitespace'");
  auto garbage = parse_hf_tokenizer("{not json");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(classify(garbage.error()), errc::invalid_request);
  auto mistyped = llama2_doc();
  mistyped["model"]["byte_fallback"] = "yes";
  auto bad = parse_hf_tokenizer(mistyped.dump());
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), errc::invalid_request);
  auto no_model = parse_hf_tokenizer(R"({"added_tokens":[]})");
  ASSERT_FALSE(no_model);
  EXPECT_EQ(classify(no_model.error()), errc::invalid_request);
  auto bad_config = parse_hf_tokenizer(llama2_doc().dump(), "[1,2]");
  ASSERT_FALSE(bad_config);
  EXPECT_EQ(classify(bad_config.error()), errc::invalid_request);
}

TEST(hf_tokenizer, loads_from_a_directory_or_file) {
  auto dir = std::filesystem::temp_directory_path()
             / fmt::format("hf_tokenizer_test_{}", ::testing::UnitTest::GetInstance()->random_seed());
  std::filesystem::create_directories(dir);
  std::ofstream{dir / "tokenizer.json"} << llama2_doc().dump();
  std::ofstream{dir / "tokenizer_config.json"} << R"({"add_bos_token":false})";
  auto from_dir = load_hf_tokenizer(dir);
  ASSERT_TRUE(from_dir) << describe(from_dir.error());
  EXPECT_THAT((*from_dir)->prompt_prefix(), IsEmpty());
  auto from_file = load_hf_tokenizer(dir / "tokenizer.json", dir / "missing_config.json");
  ASSERT_TRUE(from_file) << describe(from_file.error());
  EXPECT_THAT((*from_file)->encode("hi"), ElementsAre(263u));
  auto missing = load_hf_tokenizer(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(classify(missing.error()), errc::not_found);
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace dynamo::tokenizer
