#include "dynamo/workload/workload_flags.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace dynamo::workload {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using args_t = std::vector<std::string_view>;

parsed_workload_flags parse_ok(const args_t& args, const workload_flags_config& cfg = {}) {
  auto parsed = parse_workload_flags(std::span<const std::string_view>{args}, cfg);
  if (!parsed) {
    ADD_FAILURE() << "rejected: " << describe(parsed.error());
    return {};
  }
  return std::move(*parsed);
}

std::string parse_error(const args_t& args, const workload_flags_config& cfg = {}) {
  auto parsed = parse_workload_flags(std::span<const std::string_view>{args}, cfg);
  if (parsed) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  EXPECT_EQ(classify(parsed.error()), errc::invalid_request);
  return client_message(parsed.error());
}

/// The configuration of a tool that only writes and summarises traces (dynamo-workload).
workload_flags_config writer_config() {
  workload_flags_config cfg;
  cfg.prompt_flags = false;
  cfg.replay_flags = false;
  return cfg;
}

TEST(workload_flags, a_preset_alone_is_the_preset) {
  auto parsed = parse_ok({"--preset", "multi-turn"});
  auto expected = preset("multi-turn");
  ASSERT_TRUE(expected);
  const auto& src = parsed.source;
  EXPECT_FALSE(src.is_trace());
  EXPECT_EQ(src.preset, "multi-turn");
  EXPECT_EQ(src.generator.requests, expected->requests);
  EXPECT_EQ(src.generator.turns, expected->turns);
  EXPECT_EQ(src.generator.session_fraction, expected->session_fraction);
  EXPECT_EQ(src.block_size(), 512u);
  EXPECT_TRUE(parsed.rest.empty());
  EXPECT_THAT(src.params, ElementsAre(std::pair<std::string, std::string>{"preset",
                                                                          "multi-turn"}));
}

TEST(workload_flags, every_generator_knob_overrides_the_preset_wherever_the_preset_appears) {
  auto parsed = parse_ok({"--seed", "7",
                          "--requests", "123",
                          "--duration-s", "30.5",
                          "--name", "mine",
                          "--arrival", "ramp",
                          "--rate", "4.5",
                          "--burst-size", "9",
                          "--burst-gap-s", "0.5",
                          "--ramp-from", "1",
                          "--ramp-to", "12",
                          "--ramp-s", "20",
                          "--isl", "uniform:100-200",
                          "--osl", "fixed:64",
                          "--prefix-groups", "5",
                          "--prefix-tokens", "normal:1000,10",
                          "--group-pick", "zipf",
                          "--zipf-s", "1.5",
                          "--session-fraction", "0.25",
                          "--turns", "3",
                          "--think-time-s", "lognormal:2,0.5",
                          "--user-tokens", "uniform:10-20",
                          "--max-prompt-tokens", "4096",
                          "--block-size", "64",
                          "--token-range", "10-1000",
                          "--salt", "99",
                          "--preset", "mixed"});
  const auto& g = parsed.source.generator;
  EXPECT_EQ(parsed.source.preset, "mixed");
  EXPECT_EQ(g.seed, 7u);
  EXPECT_EQ(g.requests, 123u);
  EXPECT_EQ(g.duration_s, 30.5);
  EXPECT_EQ(g.name, "mine");
  EXPECT_EQ(g.arrival.kind, arrival_kind::ramp);
  EXPECT_EQ(g.arrival.rate, 4.5);
  EXPECT_EQ(g.arrival.burst_size, 9u);
  EXPECT_EQ(g.arrival.burst_gap_s, 0.5);
  EXPECT_EQ(g.arrival.ramp_from, 1.0);
  EXPECT_EQ(g.arrival.ramp_to, 12.0);
  EXPECT_EQ(g.arrival.ramp_s, 20.0);
  EXPECT_EQ(g.isl, distribution::make_uniform(100, 200));
  EXPECT_EQ(g.osl, distribution::make_fixed(64));
  EXPECT_EQ(g.prefix_groups, 5u);
  EXPECT_EQ(g.prefix_length, distribution::make_normal(1000, 10));
  EXPECT_EQ(g.pick, group_pick::zipf);
  EXPECT_EQ(g.zipf_s, 1.5);
  EXPECT_EQ(g.session_fraction, 0.25);
  EXPECT_EQ(g.turns, distribution::make_fixed(3));
  EXPECT_EQ(g.think_time_s, distribution::make_lognormal(2, 0.5));
  EXPECT_EQ(g.user_tokens, distribution::make_uniform(10, 20));
  EXPECT_EQ(g.max_prompt_tokens, 4096u);
  EXPECT_EQ(g.layout.block_size, 64u);
  EXPECT_EQ(g.layout.tokens, (token_range{10, 1000}));
  EXPECT_EQ(g.layout.salt, 99u);
  EXPECT_EQ(parsed.source.block_size(), 64u);
  EXPECT_TRUE(parsed.rest.empty());
  EXPECT_TRUE(generate_trace(g)) << "the parsed config generates";
}

TEST(workload_flags, group_pick_uniform_and_the_other_arrival_kinds) {
  auto parsed = parse_ok({"--preset", "mixed", "--group-pick", "uniform", "--arrival", "bursts"});
  EXPECT_EQ(parsed.source.generator.pick, group_pick::uniform);
  EXPECT_EQ(parsed.source.generator.arrival.kind, arrival_kind::bursts);
  EXPECT_EQ(parse_ok({"--preset", "mixed", "--arrival", "constant"})
              .source.generator.arrival.kind,
            arrival_kind::constant);
  EXPECT_EQ(parse_ok({"--preset", "mixed", "--arrival", "poisson"})
              .source.generator.arrival.kind,
            arrival_kind::poisson);
}

TEST(workload_flags, a_trace_takes_every_replay_option) {
  auto parsed = parse_ok({"--trace", "t.jsonl", "--requests", "50", "--start-offset-s", "2.5",
                          "--truncate-hash-ids", "--block-size", "16", "--token-range", "5-77",
                          "--salt", "3"});
  const auto& src = parsed.source;
  EXPECT_TRUE(src.is_trace());
  EXPECT_EQ(src.trace, "t.jsonl");
  EXPECT_TRUE(src.preset.empty());
  EXPECT_EQ(src.replay.max_requests, 50u);
  EXPECT_EQ(src.replay.start_offset_s, 2.5);
  EXPECT_TRUE(src.replay.truncate_hash_ids);
  EXPECT_EQ(src.replay.layout.block_size, 16u);
  EXPECT_EQ(src.replay.layout.tokens, (token_range{5, 77}));
  EXPECT_EQ(src.replay.layout.salt, 3u);
  EXPECT_EQ(src.block_size(), 16u);
  using kv = std::pair<std::string, std::string>;
  EXPECT_THAT(src.params,
              ElementsAre(kv{"trace", "t.jsonl"}, kv{"requests", "50"},
                          kv{"start-offset-s", "2.5"}, kv{"truncate-hash-ids", "true"},
                          kv{"block-size", "16"}, kv{"token-range", "5-77"}, kv{"salt", "3"}));
}

TEST(workload_flags, a_trace_replays_everything_by_default) {
  auto parsed = parse_ok({"--trace", "t.jsonl"});
  EXPECT_EQ(parsed.source.replay.max_requests, 0u);
  EXPECT_FALSE(parsed.source.replay.truncate_hash_ids);
  EXPECT_EQ(parsed.source.replay.start_offset_s, 0.0);
  EXPECT_EQ(parsed.source.block_size(), 512u);
}

TEST(workload_flags, unknown_arguments_are_left_to_the_tool_in_order) {
  workload_flags_config cfg;
  cfg.tool_value_flags = {"--out", "--model"};
  auto parsed = parse_ok({"--url", "http://h:1", "--preset", "shared-prefix", "--out", "--seed",
                          "--seed", "4", "--stats", "-h", "positional", "--model", "m"},
                         cfg);
  EXPECT_EQ(parsed.source.generator.seed, 4u);
  EXPECT_THAT(parsed.rest, ElementsAre("--url", "http://h:1", "--out", "--seed", "--stats", "-h",
                                       "positional", "--model", "m"));
}

TEST(workload_flags, other_arguments_split_without_interpreting_workload_values) {
  workload_flags_config cfg;
  cfg.tool_value_flags = {"--out"};
  const args_t args = {"--bogus", "--seed", "not-a-number", "--out", "--isl", "--seed", "2",
                       "--stats", "--isl"};
  EXPECT_THAT(other_arguments(args, cfg), ElementsAre("--bogus", "--out", "--isl", "--stats"));
  EXPECT_EQ(parse_error(args, cfg), "--seed given twice");
}

TEST(workload_flags, a_tool_value_flag_at_the_end_is_left_as_is) {
  workload_flags_config cfg;
  cfg.tool_value_flags = {"--out"};
  auto parsed = parse_ok({"--preset", "mixed", "--out"}, cfg);
  EXPECT_THAT(parsed.rest, ElementsAre("--out"));
}

TEST(workload_flags, flags_a_tool_does_not_offer_are_left_to_it) {
  auto parsed = parse_ok({"--trace", "t.jsonl", "--salt", "3", "--token-range", "1-2",
                          "--start-offset-s", "1", "--truncate-hash-ids"},
                         writer_config());
  EXPECT_THAT(parsed.rest, ElementsAre("--salt", "3", "--token-range", "1-2", "--start-offset-s",
                                       "1", "--truncate-hash-ids"));
  EXPECT_FALSE(is_workload_flag("--salt", writer_config()));
  EXPECT_TRUE(is_workload_flag("--salt", {}));
  EXPECT_TRUE(is_workload_flag("--block-size", writer_config()));
  EXPECT_FALSE(is_workload_flag("--out", {}));
}

TEST(workload_flags, requests_apply_to_a_trace_only_where_the_tool_replays) {
  EXPECT_EQ(parse_error({"--trace", "t.jsonl", "--requests", "5"}, writer_config()),
            "--requests only applies to --preset (it is a generator knob)");
  EXPECT_EQ(parse_ok({"--preset", "mixed", "--requests", "5"}, writer_config())
              .source.generator.requests,
            5u);
}

TEST(workload_flags, exactly_one_source_is_required) {
  EXPECT_EQ(parse_error({"--seed", "1"}), "give exactly one of --preset NAME and --trace FILE");
  EXPECT_EQ(parse_error({}), "give exactly one of --preset NAME and --trace FILE");
  EXPECT_EQ(parse_error({"--preset", "mixed", "--trace", "t.jsonl"}),
            "give one of --preset NAME and --trace FILE, not both");
  EXPECT_EQ(parse_error({"--preset", "mixed", "--preset", "mixed"}), "--preset given twice");
  EXPECT_EQ(parse_error({"--trace", "a", "--trace", "b"}), "--trace given twice");
  EXPECT_THAT(parse_error({"--preset", "nope"}),
              AllOf(HasSubstr("--preset"), HasSubstr("unknown preset 'nope'"),
                    HasSubstr("shared-prefix")));
  EXPECT_EQ(parse_error({"--trace", ""}), "--trace expects a file name, got ''");
}

TEST(workload_flags, a_knob_given_twice_is_rejected) {
  EXPECT_EQ(parse_error({"--preset", "mixed", "--seed", "1", "--seed", "2"}),
            "--seed given twice");
  EXPECT_EQ(parse_error({"--trace", "t", "--truncate-hash-ids", "--truncate-hash-ids"}),
            "--truncate-hash-ids given twice");
}

TEST(workload_flags, a_missing_value_names_the_flag) {
  EXPECT_EQ(parse_error({"--preset", "mixed", "--isl"}), "--isl needs a value (DIST)");
  EXPECT_EQ(parse_error({"--preset"}), "--preset needs a value (NAME)");
}

TEST(workload_flags, flags_for_the_other_source_are_rejected_by_name) {
  for (std::string_view flag : {"--seed", "--duration-s", "--name", "--arrival", "--rate",
                                "--burst-size", "--burst-gap-s", "--ramp-from", "--ramp-to",
                                "--ramp-s", "--isl", "--osl", "--prefix-groups",
                                "--prefix-tokens", "--group-pick", "--zipf-s",
                                "--session-fraction", "--turns", "--think-time-s",
                                "--user-tokens", "--max-prompt-tokens"})
    EXPECT_EQ(parse_error({"--trace", "t.jsonl", flag, "1"}),
              fmt::format("{} only applies to --preset (it is a generator knob)", flag));
  EXPECT_EQ(parse_error({"--preset", "mixed", "--truncate-hash-ids"}),
            "--truncate-hash-ids only applies to --trace");
  EXPECT_EQ(parse_error({"--preset", "mixed", "--start-offset-s", "1"}),
            "--start-offset-s only applies to --trace");
}

TEST(workload_flags, bad_values_name_the_flag_and_the_value) {
  struct bad_case {
    std::string_view flag;
    std::string_view value;
    std::string_view expected;
  };
  const bad_case cases[] = {
    {"--seed", "-1", "--seed expects an integer in [0, 18446744073709551615], got '-1'"},
    {"--seed", "x", "--seed expects an integer in [0, 18446744073709551615], got 'x'"},
    {"--requests", "1.5", "--requests expects an integer in [0, 18446744073709551615], got '1.5'"},
    {"--duration-s", "-2", "--duration-s expects a number >= 0, got '-2'"},
    {"--duration-s", "inf", "--duration-s expects a number >= 0, got 'inf'"},
    {"--name", "", "--name expects a non-empty name, got ''"},
    {"--arrival", "steady", "--arrival expects poisson, constant, bursts or ramp, got 'steady'"},
    {"--rate", "0", "--rate expects a number > 0, got '0'"},
    {"--rate", "fast", "--rate expects a number > 0, got 'fast'"},
    {"--burst-size", "0", "--burst-size expects an integer in [1, 4294967295], got '0'"},
    {"--burst-gap-s", "0", "--burst-gap-s expects a number > 0, got '0'"},
    {"--ramp-from", "-1", "--ramp-from expects a number >= 0, got '-1'"},
    {"--ramp-to", "nan", "--ramp-to expects a number >= 0, got 'nan'"},
    {"--ramp-s", "-3", "--ramp-s expects a number >= 0, got '-3'"},
    {"--isl", "gauss:1", "--isl: bad distribution 'gauss:1'"},
    {"--osl", "uniform:5-1", "--osl: uniform:5-1: uniform needs 0 <= LO <= HI"},
    {"--prefix-groups", "2000000",
     "--prefix-groups expects an integer in [0, 1000000], got '2000000'"},
    {"--prefix-tokens", "-5", "--prefix-tokens: -5: the value must be >= 0"},
    {"--group-pick", "zipf:2", "--group-pick expects uniform or zipf, got 'zipf:2'"},
    {"--zipf-s", "101", "--zipf-s expects a number in [0, 100], got '101'"},
    {"--session-fraction", "1.5", "--session-fraction expects a number in [0, 1], got '1.5'"},
    {"--turns", "", "--turns: bad distribution ''"},
    {"--think-time-s", "normal:1", "--think-time-s: bad distribution 'normal:1'"},
    {"--user-tokens", "lognormal:0,1", "--user-tokens: lognormal:0,1: lognormal needs MEAN > 0"},
    {"--max-prompt-tokens", "5000000000",
     "--max-prompt-tokens expects an integer in [0, 4294967295], got '5000000000'"},
    {"--block-size", "0", "--block-size expects an integer in [1, 1048576], got '0'"},
    {"--block-size", "2000000", "--block-size expects an integer in [1, 1048576], got '2000000'"},
    {"--token-range", "9-3", "--token-range: token range: [9, 3) is empty"},
    {"--token-range", "abc", "--token-range: bad token range 'abc'"},
    {"--salt", "-4", "--salt expects an integer in [0, 18446744073709551615], got '-4'"},
  };
  for (const auto& c : cases)
    EXPECT_THAT(parse_error({"--preset", "mixed", c.flag, c.value}), HasSubstr(c.expected))
      << c.flag << " " << c.value;
  EXPECT_EQ(parse_error({"--trace", "t", "--start-offset-s", "-1"}),
            "--start-offset-s expects a number >= 0, got '-1'");
}

TEST(workload_flags, a_duration_alone_replaces_the_presets_request_count) {
  auto by_time = parse_ok({"--preset", "shared-prefix", "--duration-s", "5"});
  EXPECT_EQ(by_time.source.generator.requests, 0u);
  EXPECT_EQ(by_time.source.generator.duration_s, 5.0);
  auto both = parse_ok({"--duration-s", "5", "--requests", "10", "--preset", "shared-prefix"});
  EXPECT_EQ(both.source.generator.requests, 10u);
  EXPECT_EQ(both.source.generator.duration_s, 5.0);
}

TEST(workload_flags, an_unbounded_or_inconsistent_workload_names_the_flags) {
  EXPECT_EQ(parse_error({"--preset", "mixed", "--requests", "0"}),
            "--requests 0 needs --duration-s T > 0 to bound the workload");
  EXPECT_EQ(parse_error({"--preset", "mixed", "--arrival", "ramp"}),
            "--arrival ramp needs its length: give --ramp-s T or --duration-s T");
  EXPECT_EQ(parse_error({"--preset", "mixed", "--arrival", "ramp", "--ramp-s", "10",
                         "--ramp-from", "0", "--ramp-to", "0"}),
            "--arrival ramp needs --ramp-from or --ramp-to above 0");
  EXPECT_EQ(parse_error({"--preset", "mixed", "--requests", "20000000"}),
            "--requests: 20000000 is above the limit of 10000000");
  EXPECT_THAT(parse_error({"--preset", "mixed", "--rate", "1000000", "--duration-s", "100"}),
              AllOf(HasSubstr("--duration-s: about"), HasSubstr("conversations would start")));
  EXPECT_TRUE(parse_ok({"--preset", "mixed", "--arrival", "ramp", "--duration-s", "10"})
                .source.generator.arrival.ramp_s == 0.0);
}

TEST(workload_flags, params_record_the_flags_as_given) {
  auto parsed = parse_ok({"--seed", "3", "--preset", "mixed", "--isl", "fixed:10"});
  using kv = std::pair<std::string, std::string>;
  EXPECT_THAT(parsed.source.params,
              ElementsAre(kv{"preset", "mixed"}, kv{"seed", "3"}, kv{"isl", "fixed:10"}));
}

TEST(workload_flags, argc_argv_skips_the_program_name) {
  const char* argv[] = {"dynamo-x", "--preset", "multi-turn", "--out", "x.jsonl"};
  auto parsed = parse_workload_flags(5, argv, {});
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_EQ(parsed->source.preset, "multi-turn");
  EXPECT_THAT(parsed->rest, ElementsAre("--out", "x.jsonl"));
}

TEST(workload_flags, the_help_lists_every_offered_flag_and_no_other) {
  for (const auto& cfg : {workload_flags_config{}, writer_config()}) {
    auto help = workload_flags_help(cfg);
    auto names = workload_flag_names(cfg);
    for (auto name : names) {
      EXPECT_THAT(help, HasSubstr(fmt::format("\n  {} ", name))) << name;
      EXPECT_TRUE(is_workload_flag(name, cfg)) << name;
    }
    for (auto name : workload_flag_names({})) {
      if (!is_workload_flag(name, cfg)) {
        EXPECT_THAT(help, Not(HasSubstr(fmt::format(" {} ", name)))) << name;
      }
    }
    for (auto preset_name : preset_names())
      EXPECT_THAT(help, HasSubstr(fmt::format("  {} ", preset_name)));
    EXPECT_THAT(help, HasSubstr("DIST is fixed:N"));
    std::istringstream lines{help};
    for (std::string line; std::getline(lines, line);)
      EXPECT_LE(line.size(), 96u) << line;
  }
  const auto full = workload_flag_names({});
  EXPECT_EQ(full.size(), 29u);
  EXPECT_EQ(workload_flag_names(writer_config()).size(), 25u);
  for (std::string_view name : {"--preset", "--trace", "--seed", "--requests", "--duration-s",
                                "--truncate-hash-ids", "--block-size", "--token-range", "--salt",
                                "--think-time-s", "--start-offset-s"})
    EXPECT_THAT(full, ::testing::Contains(name));
  EXPECT_THAT(workload_flags_help({}), HasSubstr("with --trace: replay the first N requests"));
  EXPECT_THAT(workload_flags_help(writer_config()), Not(HasSubstr("with --trace")));
  EXPECT_THAT(workload_flags_help(writer_config()), Not(HasSubstr("trace replay")));
}

} // namespace
} // namespace dynamo::workload
