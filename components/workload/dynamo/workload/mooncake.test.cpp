#include "dynamo/workload/mooncake.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace dynamo::workload {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// The first lines of the public Mooncake trace (FAST'25 format, 512-token blocks).
constexpr const char* sample_trace =
  R"({"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}
{"timestamp": 0, "input_length": 7319, "output_length": 490, "hash_ids": [0, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27]}
{"timestamp": 3052, "input_length": 7234, "output_length": 794, "hash_ids": [0, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41]}
{"timestamp": 3052, "input_length": 2287, "output_length": 316, "hash_ids": [0, 42, 43, 44, 45]}
)";

std::vector<trace_record> parsed(std::string_view text) {
  std::istringstream in{std::string{text}};
  auto records = parse_mooncake(in, "t.jsonl");
  if (!records) {
    ADD_FAILURE() << describe(records.error());
    return {};
  }
  return *records;
}

std::string parse_failure(std::string_view text) {
  std::istringstream in{std::string{text}};
  auto records = parse_mooncake(in, "t.jsonl");
  if (records) {
    ADD_FAILURE() << "accepted: " << text;
    return {};
  }
  EXPECT_EQ(classify(records.error()), errc::invalid_request);
  return client_message(records.error());
}

replay_result built(std::span<const trace_record> records, const replay_options& options = {}) {
  auto result = build_workload(records, options, "test");
  if (!result) {
    ADD_FAILURE() << describe(result.error());
    return {};
  }
  return std::move(*result);
}

std::string build_failure(std::span<const trace_record> records,
                          const replay_options& options = {}) {
  auto result = build_workload(records, options, "test");
  if (result) {
    ADD_FAILURE() << "built";
    return {};
  }
  EXPECT_EQ(classify(result.error()), errc::invalid_request);
  return client_message(result.error());
}

TEST(parse_mooncake, reads_the_public_trace_format) {
  auto records = parsed(sample_trace);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].timestamp_ms, 0.0);
  EXPECT_EQ(records[0].input_length, 6755u);
  EXPECT_EQ(records[0].output_length, 500u);
  EXPECT_EQ(records[0].hash_ids.size(), 14u);
  EXPECT_EQ(records[0].session_id, 0u);
  EXPECT_FALSE(records[0].delay_ms);
  EXPECT_EQ(records[0].line, 1u);
  EXPECT_EQ(records[3].timestamp_ms, 3052.0);
  EXPECT_THAT(records[3].hash_ids, ElementsAre(0u, 42u, 43u, 44u, 45u));
}

TEST(parse_mooncake, skips_blank_lines_crlf_and_a_bom_and_ignores_unknown_fields) {
  auto records = parsed("\xEF\xBB\xBF{\"timestamp\":1.5,\"input_length\":3,\"output_length\":0,"
                        "\"hash_ids\":[7],\"extra\":\"x\"}\r\n\n   \n"
                        "{\"timestamp\":2,\"input_length\":1,\"output_length\":1,"
                        "\"hash_ids\":[8]}");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].timestamp_ms, 1.5);
  EXPECT_EQ(records[1].line, 4u);
}

TEST(parse_mooncake, reads_the_session_extensions_and_numbers_missing_turns) {
  auto records = parsed(
    R"({"timestamp":0,"input_length":3,"output_length":2,"hash_ids":[0],"session_id":9}
{"timestamp":5,"input_length":3,"output_length":2,"hash_ids":[1],"session_id":4,"turn":0}
{"timestamp":9,"input_length":7,"output_length":2,"hash_ids":[0],"session_id":9,"delay_ms":250.5}
)");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].session_id, 9u);
  EXPECT_EQ(records[0].turn, 0u);
  EXPECT_EQ(records[2].turn, 1u);
  EXPECT_EQ(records[2].delay_ms, 250.5);
}

TEST(parse_mooncake, bad_lines_name_the_line_and_the_field) {
  const std::string ok = R"({"timestamp":0,"input_length":3,"output_length":2,"hash_ids":[0]})";
  auto second = [&ok](std::string_view line) { return ok + "\n" + std::string{line}; };
  EXPECT_THAT(parse_failure(second("{")), HasSubstr("t.jsonl:2: not valid JSON"));
  EXPECT_THAT(parse_failure(second("[1]")), HasSubstr("t.jsonl:2: a record must be"));
  EXPECT_THAT(parse_failure(second(R"({"input_length":3,"output_length":2,"hash_ids":[0]})")),
              HasSubstr("t.jsonl:2: field 'timestamp' is missing"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":-1,"input_length":3,"output_length":2,"hash_ids":[0]})")),
              HasSubstr("field 'timestamp'"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":"0","input_length":3,"output_length":2,"hash_ids":[0]})")),
              HasSubstr("field 'timestamp'"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":0,"output_length":2,"hash_ids":[0]})")),
              HasSubstr("t.jsonl:2: field 'input_length' must be an integer in [1, "));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":2.5,"output_length":2,"hash_ids":[0]})")),
              HasSubstr("field 'input_length'"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":4294967296,"output_length":2,"hash_ids":[0]})")),
              HasSubstr("field 'input_length'"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":3,"output_length":-2,"hash_ids":[0]})")),
              HasSubstr("field 'output_length'"));
  EXPECT_THAT(parse_failure(second(R"({"timestamp":0,"input_length":3,"output_length":2})")),
              HasSubstr("field 'hash_ids' is missing"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":3,"output_length":2,"hash_ids":{}})")),
              HasSubstr("field 'hash_ids' must be an array"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":3,"output_length":2,"hash_ids":[1,-1]})")),
              HasSubstr("field 'hash_ids' element 1"));
  EXPECT_THAT(parse_failure(second(
                R"({"timestamp":0,"input_length":3,"output_length":2,"hash_ids":[0],"turn":2})")),
              HasSubstr("field 'turn' must be 0"));
  EXPECT_THAT(parse_failure(second(R"({"timestamp":0,"input_length":3,"output_length":2,)"
                                   R"("hash_ids":[0],"session_id":1,"delay_ms":-5})")),
              HasSubstr("field 'delay_ms'"));
}

TEST(build_workload, rebuilds_prompts_with_the_same_sharing) {
  auto records = parsed(sample_trace);
  auto result = built(records);
  const auto& w = result.w;
  ASSERT_EQ(w.requests.size(), 4u);
  EXPECT_EQ(w.name, "test");
  EXPECT_EQ(result.truncated_records, 0u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(w.requests[i].id, i);
    EXPECT_EQ(w.requests[i].prompt.size(), records[i].input_length);
    EXPECT_EQ(w.requests[i].max_tokens, records[i].output_length);
    EXPECT_EQ(w.requests[i].session, 0u);
  }
  EXPECT_EQ(w.requests[2].at_s, 3.052);
  // Every request starts with hash block 0: exactly 512 shared tokens, then they differ.
  const auto& a = w.requests[0].prompt;
  const auto& b = w.requests[3].prompt;
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 512, b.begin()));
  EXPECT_NE(a[512], b[512]);
  EXPECT_EQ(block_tokens(0, 512), std::vector<uint32_t>(a.begin(), a.begin() + 512));
  EXPECT_FALSE(validate(w));
}

TEST(build_workload, length_must_match_the_hash_ids) {
  trace_record short_ids{0, 1025, 1, {1, 2}};
  short_ids.line = 7;
  EXPECT_THAT(build_failure(std::vector{short_ids}),
              HasSubstr("line 7: field 'input_length' is 1025 and needs 3 hash ids"));
  trace_record extra_ids{0, 512, 1, {1, 2}};
  extra_ids.line = 8;
  EXPECT_THAT(build_failure(std::vector{extra_ids}),
              HasSubstr("line 8: field 'hash_ids' has 2 ids but input_length 512 spans only 1"));
  replay_options lenient;
  lenient.truncate_hash_ids = true;
  auto result = built(std::vector{extra_ids, extra_ids}, lenient);
  EXPECT_EQ(result.truncated_records, 2u);
  EXPECT_EQ(result.w.requests[0].prompt, block_tokens(1, 512));
}

TEST(build_workload, applies_time_scale_offset_and_request_limit) {
  std::vector<trace_record> records{{1000, 4, 3, {0}}, {3000, 4, 3, {1}}, {5000, 4, 0, {2}},
                                    {9000, 4, 3, {3}}};
  replay_options options;
  options.layout.block_size = 4;
  options.time_scale = 2.0;
  options.start_offset_s = 2.0;
  options.max_requests = 2;
  auto w = built(records, options).w;
  ASSERT_EQ(w.requests.size(), 2u);
  // The trace starts at 1000 ms; the offset moves time 0 to 3000 ms; then times halve.
  EXPECT_EQ(w.requests[0].at_s, 0.0);
  EXPECT_EQ(w.requests[1].at_s, 1.0);
  EXPECT_EQ(w.requests[1].max_tokens, 1u);  // output_length 0 is replayed as 1
  EXPECT_EQ(w.requests[0].prompt, block_tokens(1, 4));
}

TEST(build_workload, sessions_keep_turns_together_in_start_order) {
  std::vector<trace_record> records;
  auto add = [&records](double ts, uint64_t session, uint32_t turn, std::optional<double> delay,
                        uint64_t id) {
    trace_record r{ts, 2, 5, {id}, session, turn, delay};
    r.line = records.size() + 1;
    records.push_back(r);
  };
  add(500, 0, 0, std::nullopt, 10);  // standalone
  add(100, 77, 0, std::nullopt, 20);
  add(900, 77, 1, std::nullopt, 21);  // no delay: the gap to the previous turn
  add(300, 5, 0, std::nullopt, 30);
  add(2000, 77, 2, 40.0, 22);
  replay_options options;
  options.layout.block_size = 2;
  auto w = built(records, options).w;
  ASSERT_EQ(w.requests.size(), 5u);
  // Conversations by first turn: session 77 (100 ms), session 5 (300), standalone (500).
  EXPECT_EQ(w.requests[0].session, 1u);
  EXPECT_EQ(w.requests[0].turn, 0u);
  EXPECT_EQ(w.requests[0].at_s, 0.0);
  EXPECT_EQ(w.requests[1].session, 1u);
  EXPECT_EQ(w.requests[1].turn, 1u);
  EXPECT_DOUBLE_EQ(w.requests[1].at_s, 0.8);
  EXPECT_EQ(w.requests[2].turn, 2u);
  EXPECT_DOUBLE_EQ(w.requests[2].at_s, 0.04);
  EXPECT_EQ(w.requests[3].session, 2u);
  EXPECT_DOUBLE_EQ(w.requests[3].at_s, 0.2);
  EXPECT_EQ(w.requests[4].session, 0u);
  EXPECT_DOUBLE_EQ(w.requests[4].at_s, 0.4);
  EXPECT_EQ(w.requests[4].prompt, block_tokens(10, 2));
  EXPECT_FALSE(validate(w));
  EXPECT_EQ(session_count(w), 2u);
}

TEST(build_workload, rejects_out_of_order_turns_and_bad_options) {
  std::vector<trace_record> records{{0, 2, 1, {0}, 3, 0}, {0, 2, 1, {0}, 3, 2}};
  records[1].line = 12;
  EXPECT_THAT(build_failure(records),
              HasSubstr("line 12: field 'turn' is 2 but session 3 expects turn 1"));
  std::vector<trace_record> one{{0, 2, 1, {0}}};
  replay_options options;
  options.time_scale = 0.0;
  EXPECT_THAT(build_failure(one, options), HasSubstr("time_scale"));
  options = {};
  options.start_offset_s = -1;
  EXPECT_THAT(build_failure(one, options), HasSubstr("start_offset_s"));
  options = {};
  options.layout.block_size = 0;
  EXPECT_THAT(build_failure(one, options), HasSubstr("block_size"));
  options = {};
  options.max_total_tokens = 1;
  EXPECT_THAT(build_failure(one, options), HasSubstr("prompt tokens"));
}

TEST(write_mooncake, writes_what_parse_reads) {
  std::vector<trace_record> records{{0, 600, 20, {0, 1}}, {12.345, 3, 1, {0}, 2, 0},
                                    {99, 700, 1, {0, 4}, 2, 1, 1500.25}};
  std::ostringstream out;
  ASSERT_FALSE(write_mooncake(out, records));
  auto text = out.str();
  EXPECT_THAT(text, HasSubstr(R"({"timestamp":0,"input_length":600,"output_length":20,)"
                              R"("hash_ids":[0,1]})"));
  EXPECT_THAT(text, HasSubstr(R"("session_id":2,"turn":1,"delay_ms":1500.25})"));
  auto back = parsed(text);
  ASSERT_EQ(back.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].line = i + 1;
    EXPECT_EQ(back[i], records[i]) << i;
  }
}

TEST(mooncake_files, round_trip_and_missing_files) {
  auto path = std::filesystem::temp_directory_path() /
              ("dynamo_mooncake_test_" + std::to_string(::getpid()) + ".jsonl");
  auto records = parsed(sample_trace);
  ASSERT_FALSE(write_mooncake_file(path, records));
  auto loaded = load_mooncake(path, {});
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded) << describe(loaded.error());
  EXPECT_EQ(loaded->w.requests.size(), 4u);
  EXPECT_EQ(loaded->w.name, "mooncake:" + path.filename().string());
  auto missing = read_mooncake_file(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(classify(missing.error()), errc::not_found);
  EXPECT_TRUE(write_mooncake_file("/nonexistent-dir/x.jsonl", records));
}

TEST(summarize, reports_lengths_sessions_and_the_ideal_hit_rate) {
  auto s = summarize(parsed(sample_trace));
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.sessions, 0u);
  EXPECT_DOUBLE_EQ(s.span_s, 3.052);
  EXPECT_EQ(s.prompt_tokens, 6755u + 7319u + 7234u + 2287u);
  EXPECT_EQ(s.isl.min, 2287u);
  EXPECT_EQ(s.isl.p50, 6755u);
  EXPECT_EQ(s.isl.max, 7319u);
  EXPECT_EQ(s.osl.p99, 794u);
  EXPECT_EQ(s.blocks, 14u + 15u + 15u + 5u);
  EXPECT_EQ(s.shared_blocks, 3u);  // block 0 of requests 2, 3 and 4
  EXPECT_DOUBLE_EQ(s.ideal_hit_rate, 3.0 / 49.0);

  // Only leading blocks count: a known id after an unknown one is not a prefix hit.
  std::vector<trace_record> records{{0, 3, 1, {1, 2, 3}}, {0, 3, 1, {1, 9, 3}}, {0, 1, 1, {5}, 4}};
  auto t = summarize(records);
  EXPECT_EQ(t.shared_blocks, 1u);
  EXPECT_EQ(t.sessions, 1u);
  EXPECT_EQ(summarize({}).requests, 0u);
}

} // namespace
} // namespace dynamo::workload
