#include "dynamo/workload/generator.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace dynamo::workload {
namespace {

using ::testing::HasSubstr;

std::vector<trace_record> trace_of(const generator_config& cfg) {
  auto records = generate_trace(cfg);
  if (!records) {
    ADD_FAILURE() << describe(records.error());
    return {};
  }
  return *records;
}

workload workload_of(const generator_config& cfg) {
  auto w = generate(cfg);
  if (!w) {
    ADD_FAILURE() << describe(w.error());
    return {};
  }
  return *w;
}

std::string config_error(const generator_config& cfg) {
  auto err = validate(cfg);
  if (!err) {
    ADD_FAILURE() << "config accepted";
    return {};
  }
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_TRUE(generate_trace(cfg).error() == err);
  return client_message(err);
}

generator_config small(std::string_view name) {
  auto cfg = preset(name);
  EXPECT_TRUE(cfg) << name;
  cfg->requests = 60;
  cfg->layout.block_size = 64;
  return *cfg;
}

bool starts_with(const std::vector<uint32_t>& whole, const std::vector<uint32_t>& prefix) {
  return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

TEST(generator, the_same_seed_gives_the_same_workload_bit_for_bit) {
  for (auto name : preset_names()) {
    auto cfg = small(name);
    auto a = workload_of(cfg);
    auto b = workload_of(cfg);
    ASSERT_EQ(a.requests.size(), b.requests.size()) << name;
    for (size_t i = 0; i < a.requests.size(); ++i) {
      EXPECT_EQ(a.requests[i].at_s, b.requests[i].at_s);
      EXPECT_EQ(a.requests[i].prompt, b.requests[i].prompt);
      EXPECT_EQ(a.requests[i].max_tokens, b.requests[i].max_tokens);
      EXPECT_EQ(a.requests[i].session, b.requests[i].session);
    }
    EXPECT_EQ(trace_of(cfg), trace_of(cfg)) << name;
    cfg.seed = 2;
    EXPECT_NE(trace_of(cfg), trace_of(small(name))) << name;
  }
}

TEST(generator, every_preset_is_valid_and_unknown_names_are_rejected) {
  for (auto name : preset_names()) {
    auto cfg = preset(name);
    ASSERT_TRUE(cfg) << name;
    EXPECT_FALSE(validate(*cfg)) << name;
    EXPECT_EQ(cfg->name, name);
  }
  auto unknown = preset("nope");
  ASSERT_FALSE(unknown);
  EXPECT_THAT(client_message(unknown.error()), HasSubstr("shared-prefix, multi-turn or mixed"));
}

TEST(generator, produces_exactly_the_requested_count_and_a_valid_workload) {
  for (auto name : preset_names()) {
    auto cfg = small(name);
    cfg.requests = 123;
    auto w = workload_of(cfg);
    EXPECT_EQ(w.requests.size(), 123u) << name;
    EXPECT_EQ(w.name, name);
    EXPECT_FALSE(validate(w)) << name << ": " << describe(validate(w));
  }
}

TEST(generator, hash_ids_are_numbered_in_order_of_first_use) {
  auto records = trace_of(small("mixed"));
  uint64_t next = 0;
  for (const auto& r : records)
    for (auto id : r.hash_ids) {
      ASSERT_LE(id, next);
      if (id == next)
        ++next;
    }
  EXPECT_GT(next, 0u);
}

TEST(generator, written_traces_replay_to_the_same_workload) {
  for (auto name : preset_names()) {
    auto cfg = small(name);
    cfg.layout.salt = 5;
    std::ostringstream out;
    ASSERT_FALSE(write_mooncake(out, trace_of(cfg)));
    std::istringstream in{out.str()};
    auto records = parse_mooncake(in, "generated");
    ASSERT_TRUE(records) << describe(records.error());
    replay_options options;
    options.layout = cfg.layout;
    auto replayed = build_workload(*records, options, cfg.name);
    ASSERT_TRUE(replayed) << describe(replayed.error());
    auto original = workload_of(cfg);
    ASSERT_EQ(replayed->w.requests.size(), original.requests.size());
    for (size_t i = 0; i < original.requests.size(); ++i) {
      const auto& x = original.requests[i];
      const auto& y = replayed->w.requests[i];
      EXPECT_EQ(x.at_s, y.at_s) << name << " " << i;
      EXPECT_EQ(x.session, y.session);
      EXPECT_EQ(x.turn, y.turn);
      EXPECT_EQ(x.max_tokens, y.max_tokens);
      EXPECT_EQ(x.prompt, y.prompt) << name << " " << i;
    }
  }
}

TEST(generator, shared_prefix_requests_share_exactly_their_group_prompt) {
  generator_config cfg;
  cfg.requests = 200;
  cfg.prefix_groups = 4;
  cfg.prefix_length = distribution::make_fixed(256);
  cfg.isl = distribution::make_fixed(256 + 100);
  cfg.layout.block_size = 64;
  auto w = workload_of(cfg);
  std::map<std::vector<uint32_t>, int> prefixes;
  for (const auto& r : w.requests) {
    ASSERT_EQ(r.prompt.size(), 356u);
    ++prefixes[std::vector<uint32_t>(r.prompt.begin(), r.prompt.begin() + 256)];
  }
  EXPECT_EQ(prefixes.size(), 4u);
  // Suffixes are unique: no two requests share more than the system prompt.
  std::set<std::vector<uint32_t>> suffix_starts;
  for (const auto& r : w.requests)
    suffix_starts.insert(std::vector<uint32_t>(r.prompt.begin() + 256, r.prompt.begin() + 260));
  EXPECT_EQ(suffix_starts.size(), w.requests.size());
  auto s = summarize(trace_of(cfg));
  // 6 blocks per request, 4 shared after each group's first use.
  EXPECT_EQ(s.blocks, 200u * 6u);
  EXPECT_EQ(s.shared_blocks, (200u - 4u) * 4u);
}

TEST(generator, zipf_groups_favour_the_first_group) {
  generator_config cfg;
  cfg.requests = 2000;
  cfg.prefix_groups = 8;
  cfg.pick = group_pick::zipf;
  cfg.zipf_s = 1.5;
  cfg.prefix_length = distribution::make_fixed(64);
  cfg.isl = distribution::make_fixed(80);
  cfg.layout.block_size = 64;
  std::map<uint64_t, int> first_block;
  for (const auto& r : trace_of(cfg))
    ++first_block[r.hash_ids[0]];
  ASSERT_EQ(first_block.size(), 8u);
  std::vector<int> counts;
  for (auto [id, n] : first_block)
    counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  EXPECT_GT(counts[0], 2000 * 0.35);  // 1 / H(8, 1.5) ~ 0.44
  EXPECT_LT(counts[7], 2000 * 0.06);
}

TEST(generator, multi_turn_prompts_extend_the_previous_turn) {
  auto cfg = small("multi-turn");
  cfg.requests = 200;
  cfg.osl = distribution::make_uniform(10, 30);
  auto w = workload_of(cfg);
  std::map<uint64_t, std::vector<const request_spec*>> sessions;
  for (const auto& r : w.requests) {
    ASSERT_NE(r.session, 0u);
    sessions[r.session].push_back(&r);
  }
  ASSERT_GE(sessions.size(), 200u / 8u);
  size_t complete = 0;
  for (const auto& [id, turns] : sessions) {
    ASSERT_LE(turns.size(), 8u);
    complete += turns.size() >= 4 ? 1 : 0;
    EXPECT_GE(turns[0]->prompt.size(), 128u);
    EXPECT_LE(turns[0]->prompt.size(), 512u);
    for (size_t k = 1; k < turns.size(); ++k) {
      const auto& previous = *turns[k - 1];
      const auto& current = *turns[k];
      EXPECT_EQ(current.turn, k);
      EXPECT_TRUE(starts_with(current.prompt, previous.prompt)) << "session " << id;
      const auto grown = current.prompt.size() - previous.prompt.size();
      EXPECT_GE(grown, previous.max_tokens + 128u);
      EXPECT_LE(grown, previous.max_tokens + 512u);
      EXPECT_GE(current.at_s, 1.0);
      EXPECT_LE(current.at_s, 3.0);
    }
  }
  // Only the last session may be cut short by the request limit.
  EXPECT_GE(complete, sessions.size() - 1);
}

TEST(generator, mixed_workloads_have_both_kinds_and_respect_the_prompt_cap) {
  auto cfg = small("mixed");
  cfg.requests = 400;
  cfg.max_prompt_tokens = 3000;
  auto w = workload_of(cfg);
  size_t standalone = 0;
  for (const auto& r : w.requests) {
    standalone += r.session == 0 ? 1 : 0;
    EXPECT_LE(r.prompt.size(), 3000u);
  }
  EXPECT_GT(standalone, 100u);
  EXPECT_LT(standalone, 390u);
  EXPECT_GT(session_count(w), 10u);
}

TEST(generator, poisson_arrivals_have_the_requested_rate) {
  generator_config cfg;
  cfg.requests = 4000;
  cfg.arrival.rate = 50.0;
  cfg.isl = distribution::make_fixed(8);
  cfg.layout.block_size = 8;
  auto w = workload_of(cfg);
  EXPECT_EQ(w.requests.front().at_s, 0.0);
  for (size_t i = 1; i < w.requests.size(); ++i)
    ASSERT_GE(w.requests[i].at_s, w.requests[i - 1].at_s);
  EXPECT_NEAR(w.requests.back().at_s, 4000 / 50.0, 4000 / 50.0 * 0.05);
}

TEST(generator, constant_bursts_and_duration_bounds) {
  generator_config cfg;
  cfg.requests = 0;
  cfg.duration_s = 2.0;
  cfg.arrival.kind = arrival_kind::constant;
  cfg.arrival.rate = 4.0;
  cfg.isl = distribution::make_fixed(8);
  cfg.layout.block_size = 8;
  auto w = workload_of(cfg);
  ASSERT_EQ(w.requests.size(), 8u);
  for (size_t i = 0; i < 8; ++i)
    EXPECT_DOUBLE_EQ(w.requests[i].at_s, static_cast<double>(i) * 0.25);

  cfg.arrival.kind = arrival_kind::bursts;
  cfg.arrival.burst_size = 3;
  cfg.arrival.burst_gap_s = 0.75;
  w = workload_of(cfg);
  ASSERT_EQ(w.requests.size(), 9u);  // bursts at 0, 0.75 and 1.5 s
  for (size_t i = 0; i < 9; ++i)
    EXPECT_DOUBLE_EQ(w.requests[i].at_s, static_cast<double>(i / 3) * 0.75);
}

TEST(generator, ramps_speed_up_over_their_length) {
  generator_config cfg;
  cfg.requests = 0;
  cfg.duration_s = 20.0;
  cfg.arrival.kind = arrival_kind::ramp;
  cfg.arrival.ramp_from = 0.0;
  cfg.arrival.ramp_to = 100.0;
  cfg.isl = distribution::make_fixed(8);
  cfg.layout.block_size = 8;
  auto records = trace_of(cfg);
  size_t first_half = 0;
  for (const auto& r : records)
    first_half += r.timestamp_ms < 10000.0 ? 1 : 0;
  // Integrated rate: 250 in the first half, 750 in the second.
  EXPECT_NEAR(static_cast<double>(records.size()), 1000.0, 120.0);
  EXPECT_NEAR(static_cast<double>(first_half) / static_cast<double>(records.size()), 0.25, 0.05);
  for (const auto& r : records)
    EXPECT_LT(r.timestamp_ms, 20000.0);
}

TEST(generator, invalid_knobs_name_their_field) {
  generator_config cfg;
  cfg.requests = 0;
  EXPECT_THAT(config_error(cfg), HasSubstr("requests"));
  cfg = {};
  cfg.arrival.rate = 0.0;
  EXPECT_THAT(config_error(cfg), HasSubstr("arrival.rate"));
  cfg = {};
  cfg.arrival.kind = arrival_kind::bursts;
  cfg.arrival.burst_size = 0;
  EXPECT_THAT(config_error(cfg), HasSubstr("arrival.burst_size"));
  cfg = {};
  cfg.arrival.kind = arrival_kind::ramp;
  EXPECT_THAT(config_error(cfg), HasSubstr("arrival.ramp_s"));
  cfg.arrival.ramp_s = 10;
  cfg.arrival.ramp_from = 0;
  cfg.arrival.ramp_to = 0;
  EXPECT_THAT(config_error(cfg), HasSubstr("arrival.ramp_from"));
  cfg = {};
  cfg.isl = distribution::make_uniform(10, 1);
  EXPECT_THAT(config_error(cfg), HasSubstr("isl:"));
  cfg = {};
  cfg.think_time_s = distribution::make_fixed(-1);
  EXPECT_THAT(config_error(cfg), HasSubstr("think_time_s:"));
  cfg = {};
  cfg.session_fraction = 1.5;
  EXPECT_THAT(config_error(cfg), HasSubstr("session_fraction"));
  cfg = {};
  cfg.zipf_s = -1;
  EXPECT_THAT(config_error(cfg), HasSubstr("zipf_s"));
  cfg = {};
  cfg.layout.block_size = 0;
  EXPECT_THAT(config_error(cfg), HasSubstr("block_size"));
  cfg = {};
  cfg.layout.tokens = {10, 10};
  EXPECT_THAT(config_error(cfg), HasSubstr("tokens"));
  cfg = {};
  cfg.requests = 0;
  cfg.duration_s = 1e9;
  EXPECT_THAT(config_error(cfg), HasSubstr("duration_s"));
  cfg = {};
  cfg.duration_s = -1;
  EXPECT_THAT(config_error(cfg), HasSubstr("duration_s"));
}

TEST(arrival_kind, names_round_trip) {
  for (auto kind : {arrival_kind::poisson, arrival_kind::constant, arrival_kind::bursts,
                    arrival_kind::ramp})
    EXPECT_EQ(parse_arrival_kind(to_string(kind)), kind);
  EXPECT_FALSE(parse_arrival_kind("sometimes"));
}

} // namespace
} // namespace dynamo::workload
