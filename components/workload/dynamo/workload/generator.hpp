// A seeded generator of realistic workloads: conversations arrive by a Poisson, constant, bursty
// or ramping process; each is a standalone request or a multi-turn session whose every turn
// extends the previous one; prompts may start with one of G shared system prompts. The output is
// a Mooncake trace (hash ids, so it can be saved and replayed) and the workload built from it.
//
// Sharing is expressed in hash blocks of `layout.block_size` tokens, as in Mooncake traces: a
// system prompt shares its whole blocks; the block it ends in is completed by the request's own
// text and is therefore unique. A session's later turn repeats the previous turn's prompt, then
// a synthetic assistant reply as long as the previous turn's max_tokens, then a new user
// message. The reply is synthetic (not what the model said) because the driver sends token ids;
// with ignore_eos the model's reply has exactly that length, so the history grows realistically.
//
// The same config and seed yield the same trace and workload bit for bit.
#pragma once

#include "dynamo/workload/distribution.hpp"
#include "dynamo/workload/mooncake.hpp"
#include "dynamo/workload/prompt_builder.hpp"
#include "dynamo/workload/workload.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::workload {

/// How conversation starts are spread over time.
enum class arrival_kind : uint8_t {
  poisson,   ///< Exponential gaps at `rate` per second; the first start is at 0.
  constant,  ///< One start every 1 / rate seconds, from 0.
  bursts,    ///< `burst_size` starts at once every `burst_gap_s` seconds, from 0.
  ramp,      ///< Poisson whose rate moves linearly from ramp_from to ramp_to over ramp_s.
};

/// "poisson", "constant", "bursts" or "ramp".
std::string_view to_string(arrival_kind kind) noexcept;

/// Parses to_string()'s output. Errors: invalid_request listing the known kinds.
caf::expected<arrival_kind> parse_arrival_kind(std::string_view text);

/// The arrival process of conversations (a multi-turn session counts once, at its first turn).
struct arrival_config {
  arrival_kind kind = arrival_kind::poisson;
  double rate = 10.0;          ///< poisson, constant: conversations per second (> 0).
  uint32_t burst_size = 16;    ///< bursts: conversations per burst (>= 1).
  double burst_gap_s = 2.0;    ///< bursts: seconds between bursts (> 0).
  double ramp_from = 1.0;      ///< ramp: rate at time 0 (>= 0).
  double ramp_to = 20.0;       ///< ramp: rate from ramp_s on (>= 0; from + to > 0).
  double ramp_s = 0.0;         ///< ramp: its length in seconds; 0 = the workload's duration_s.
};

/// How a conversation picks its shared system prompt.
enum class group_pick : uint8_t {
  uniform,  ///< Every group equally likely.
  zipf,     ///< Group i with probability proportional to 1 / (i + 1)^zipf_s.
};

/// Everything the generator draws from. Defaults describe a small shared-prefix workload.
struct generator_config {
  std::string name = "generated";  ///< The workload's name in reports.
  uint64_t seed = 1;               ///< Same seed, same workload.
  uint64_t requests = 1000;        ///< Total requests, every turn counted (0 = no limit).
  double duration_s = 0.0;         ///< No conversation starts at or after it (0 = no limit).
  arrival_config arrival;          ///< When conversations start.
  distribution isl = distribution::make_fixed(1024);  ///< Standalone prompt tokens.
  distribution osl = distribution::make_fixed(128);   ///< max_tokens of every request.
  uint32_t prefix_groups = 0;      ///< Shared system prompts (0 = none).
  /// Tokens of each group's system prompt, drawn once per group.
  distribution prefix_length = distribution::make_fixed(2048);
  group_pick pick = group_pick::uniform;  ///< How a conversation picks its group.
  double zipf_s = 1.0;             ///< Zipf exponent (>= 0) for group_pick::zipf.
  double session_fraction = 0.0;   ///< Probability that a conversation is multi-turn, in [0, 1].
  distribution turns = distribution::make_uniform(4, 8);            ///< Turns per session.
  distribution think_time_s = distribution::make_uniform(1, 3);     ///< Before a later turn.
  distribution user_tokens = distribution::make_uniform(128, 512);  ///< Per session turn.
  uint32_t max_prompt_tokens = 0;  ///< 0 = none; else standalone prompts are cut to it and a
                                   ///< session ends before a turn would exceed it.
  prompt_layout layout;            ///< Block size, token range and salt of the prompts.
};

/// Checks every knob. Any thread. Errors: invalid_request naming the field, e.g.
/// "arrival.rate: 0 must be a finite number > 0", "requests or duration_s must be > 0".
caf::error validate(const generator_config& cfg);

/// The names preset() knows: "shared-prefix", "multi-turn", "mixed".
std::vector<std::string_view> preset_names();

/// A named starting point: "shared-prefix" (8 groups x 2048-token system prompts, 256-token
/// suffixes, OSL 128, Poisson 10/s), "multi-turn" (sessions of 4-8 turns, think time 1-3 s,
/// user turns 128-512 tokens, OSL 128, 2 sessions/s, 384 requests), "mixed" (Zipf-picked system
/// prompts, a third of conversations multi-turn, varied lengths). Any thread. Errors:
/// invalid_request listing the known names.
caf::expected<generator_config> preset(std::string_view name);

/// The trace of `cfg`: one record per request in conversation order (a session's turns
/// together), hash ids numbered 0, 1, ... in order of first use, sessions numbered from 1.
/// Any thread. Errors: those of validate(), and invalid_request when the workload would exceed
/// 10 million requests (bound `requests` or `duration_s`).
caf::expected<std::vector<trace_record>> generate_trace(const generator_config& cfg);

/// generate_trace() replayed through build_workload() with cfg.layout: the requests with their
/// prompts. Any thread. Errors: as generate_trace() and build_workload().
caf::expected<workload> generate(const generator_config& cfg);

} // namespace dynamo::workload
