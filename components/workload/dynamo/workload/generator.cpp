#include "dynamo/workload/generator.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>

namespace dynamo::workload {

namespace {

constexpr uint64_t max_generated_requests = 10'000'000;
constexpr uint32_t max_turns = 10'000;
constexpr uint32_t max_length = 1u << 24;

/// Independent random streams, so that one knob does not shift the draws of another.
constexpr uint64_t arrival_stream = 0xa11'1fa1;
constexpr uint64_t conversation_stream = 0xc0'4fe5;
constexpr uint64_t group_stream = 0x6'4009;

constexpr std::array<std::string_view, 4> arrival_names = {"poisson", "constant", "bursts",
                                                           "ramp"};

caf::error bad(std::string_view field, std::string what) {
  return make_error(errc::invalid_request, fmt::format("{}: {}", field, what));
}

bool positive(double x) {
  return std::isfinite(x) && x > 0.0;
}

bool non_negative(double x) {
  return std::isfinite(x) && x >= 0.0;
}

/// Rounds milliseconds to whole microseconds, so that traces print short and replay exactly.
double round_ms(double ms) {
  return std::round(ms * 1000.0) / 1000.0;
}

/// Conversation start times in seconds; +inf when the process has no further arrivals.
class arrival_process {
public:
  arrival_process(const arrival_config& cfg, double duration_s, uint64_t seed)
    : cfg_(cfg), gen_(mix64(seed ^ arrival_stream)),
      ramp_s_(cfg.ramp_s > 0.0 ? cfg.ramp_s : duration_s) {
  }

  double next() {
    const uint64_t i = count_++;
    switch (cfg_.kind) {
      case arrival_kind::poisson:
        if (i > 0)
          t_ += gen_.exponential(cfg_.rate);
        return t_;
      case arrival_kind::constant:
        return static_cast<double>(i) / cfg_.rate;
      case arrival_kind::bursts:
        return static_cast<double>(i / cfg_.burst_size) * cfg_.burst_gap_s;
      case arrival_kind::ramp:
        // Inverts the integrated rate at the running sum of unit exponential gaps.
        level_ += gen_.exponential(1.0);
        return ramp_time(level_);
    }
    return std::numeric_limits<double>::infinity();
  }

private:
  /// The time t at which the integrated rate of the ramp reaches `level`.
  double ramp_time(double level) const {
    const double r0 = cfg_.ramp_from;
    const double r1 = cfg_.ramp_to;
    const double at_end = (r0 + r1) * ramp_s_ / 2.0;
    if (level <= at_end) {
      // r0 t + a t^2 = level with a = (r1 - r0) / (2 ramp_s); this form is stable for a = 0.
      const double a = (r1 - r0) / (2.0 * ramp_s_);
      const double root = std::sqrt(std::max(0.0, r0 * r0 + 4.0 * a * level));
      return 2.0 * level / (r0 + root);
    }
    if (r1 <= 0.0)
      return std::numeric_limits<double>::infinity();
    return ramp_s_ + (level - at_end) / r1;
  }

  const arrival_config& cfg_;
  rng gen_;
  double ramp_s_;
  uint64_t count_ = 0;
  double t_ = 0.0;
  double level_ = 0.0;
};

/// A shared system prompt: its length, and the ids of its whole blocks once first used.
struct prefix_group {
  uint32_t tokens = 0;
  bool allocated = false;
  std::vector<uint64_t> ids;
};

/// Builds the records of one conversation after another.
class trace_builder {
public:
  explicit trace_builder(const generator_config& cfg)
    : cfg_(cfg), gen_(mix64(cfg.seed ^ conversation_stream)),
      choice_(cfg.pick == group_pick::zipf ? weighted_choice::zipf(cfg.prefix_groups, cfg.zipf_s)
                                           : weighted_choice::uniform(cfg.prefix_groups)) {
    rng group_gen{mix64(cfg.seed ^ group_stream)};
    groups_.resize(cfg.prefix_groups);
    for (auto& g : groups_)
      g.tokens = cfg.prefix_length.sample_count(group_gen, 0, max_length);
  }

  /// Appends the records of a conversation starting at `start_s`; false once `limit` records
  /// exist.
  bool add_conversation(double start_s, uint64_t limit, std::vector<trace_record>& out) {
    const bool multi = cfg_.session_fraction > 0.0 && gen_.uniform() < cfg_.session_fraction;
    const uint32_t turns = multi ? cfg_.turns.sample_count(gen_, 1, max_turns) : 1;
    const uint64_t session = multi ? ++sessions_ : 0;
    std::vector<uint64_t> stream;
    uint64_t shared = 0;
    if (!groups_.empty()) {
      auto& g = groups_[choice_.sample(gen_)];
      if (!g.allocated) {
        g.allocated = true;
        for (uint32_t i = 0; i < g.tokens / cfg_.layout.block_size; ++i)
          g.ids.push_back(next_id_++);
      }
      stream = g.ids;
      shared = g.tokens;
    }
    const uint64_t cap = cfg_.max_prompt_tokens > 0 ? cfg_.max_prompt_tokens : max_length;
    uint64_t length = 0;
    uint32_t previous_osl = 0;
    double timestamp_ms = round_ms(start_s * 1000.0);
    for (uint32_t turn = 0; turn < turns; ++turn) {
      if (out.size() >= limit)
        return false;
      trace_record r;
      r.output_length = cfg_.osl.sample_count(gen_, 1, max_length);
      if (turn == 0) {
        length = multi ? shared + cfg_.user_tokens.sample_count(gen_, 1, max_length)
                       : std::max<uint64_t>(cfg_.isl.sample_count(gen_, 1, max_length),
                                            shared + 1);
        length = std::min(length, cap);
      } else {
        length += previous_osl + cfg_.user_tokens.sample_count(gen_, 1, max_length);
        if (length > cap)
          break;
        const double delay = round_ms(cfg_.think_time_s.sample_non_negative(gen_) * 1000.0);
        r.delay_ms = delay;
        timestamp_ms = round_ms(timestamp_ms + delay);
      }
      const uint64_t blocks = blocks_for(length, cfg_.layout.block_size);
      while (stream.size() < blocks)
        stream.push_back(next_id_++);
      r.timestamp_ms = timestamp_ms;
      r.input_length = static_cast<uint32_t>(length);
      r.hash_ids.assign(stream.begin(), stream.begin() + static_cast<ptrdiff_t>(blocks));
      r.session_id = session;
      r.turn = turn;
      previous_osl = r.output_length;
      out.push_back(std::move(r));
    }
    return out.size() < limit;
  }

private:
  const generator_config& cfg_;
  rng gen_;
  weighted_choice choice_;
  std::vector<prefix_group> groups_;
  uint64_t next_id_ = 0;
  uint64_t sessions_ = 0;
};

caf::error validate_arrival(const generator_config& cfg) {
  const auto& a = cfg.arrival;
  switch (a.kind) {
    case arrival_kind::poisson:
    case arrival_kind::constant:
      if (!positive(a.rate))
        return bad("arrival.rate", fmt::format("{} must be a finite number > 0", a.rate));
      break;
    case arrival_kind::bursts:
      if (a.burst_size == 0)
        return bad("arrival.burst_size", "must be at least 1");
      if (!positive(a.burst_gap_s))
        return bad("arrival.burst_gap_s",
                   fmt::format("{} must be a finite number > 0", a.burst_gap_s));
      break;
    case arrival_kind::ramp:
      if (!non_negative(a.ramp_from) || !non_negative(a.ramp_to) ||
          !(a.ramp_from + a.ramp_to > 0.0))
        return bad("arrival.ramp_from",
                   fmt::format("the ramp from {} to {} needs finite rates >= 0, not both 0",
                               a.ramp_from, a.ramp_to));
      if (!non_negative(a.ramp_s))
        return bad("arrival.ramp_s", fmt::format("{} must be a finite number >= 0", a.ramp_s));
      if (a.ramp_s == 0.0 && cfg.duration_s == 0.0)
        return bad("arrival.ramp_s", "a ramp needs its length (ramp_s) or duration_s");
      break;
    default:
      return bad("arrival.kind", "unknown arrival kind");
  }
  return {};
}

/// The mean number of conversations starting before duration_s (an upper-bound check only).
double expected_conversations(const generator_config& cfg) {
  const auto& a = cfg.arrival;
  const double d = cfg.duration_s;
  switch (a.kind) {
    case arrival_kind::poisson:
    case arrival_kind::constant:
      return a.rate * d;
    case arrival_kind::bursts:
      return std::ceil(d / a.burst_gap_s) * a.burst_size;
    case arrival_kind::ramp: {
      const double ramp = a.ramp_s > 0.0 ? a.ramp_s : d;
      const double in_ramp = std::min(d, ramp);
      const double rate_at = a.ramp_from + (a.ramp_to - a.ramp_from) * in_ramp / ramp;
      return (a.ramp_from + rate_at) * in_ramp / 2.0 + a.ramp_to * std::max(0.0, d - ramp);
    }
  }
  return 0.0;
}

} // namespace

std::string_view to_string(arrival_kind kind) noexcept {
  auto i = static_cast<size_t>(kind);
  return i < arrival_names.size() ? arrival_names[i] : std::string_view{"poisson"};
}

caf::expected<arrival_kind> parse_arrival_kind(std::string_view text) {
  for (size_t i = 0; i < arrival_names.size(); ++i)
    if (arrival_names[i] == text)
      return static_cast<arrival_kind>(i);
  return bad("arrival",
             fmt::format("unknown kind '{}' (expected poisson, constant, bursts or ramp)", text));
}

caf::error validate(const generator_config& cfg) {
  if (!non_negative(cfg.duration_s))
    return bad("duration_s", fmt::format("{} must be a finite number >= 0", cfg.duration_s));
  if (cfg.requests == 0 && cfg.duration_s == 0.0)
    return bad("requests", "requests or duration_s must be > 0 to bound the workload");
  if (cfg.requests > max_generated_requests)
    return bad("requests", fmt::format("{} is above the limit of {}", cfg.requests,
                                       max_generated_requests));
  if (auto err = validate_arrival(cfg))
    return err;
  if (cfg.requests == 0 && expected_conversations(cfg) > 0.9 * max_generated_requests)
    return bad("duration_s", fmt::format("about {:.0f} conversations would start in {} s; the "
                                         "limit is {} requests (lower the rate or the duration, "
                                         "or set requests)",
                                         expected_conversations(cfg), cfg.duration_s,
                                         max_generated_requests));
  for (const auto& [d, field] : {std::pair{&cfg.isl, "isl"}, std::pair{&cfg.osl, "osl"},
                                 std::pair{&cfg.prefix_length, "prefix_length"},
                                 std::pair{&cfg.turns, "turns"},
                                 std::pair{&cfg.think_time_s, "think_time_s"},
                                 std::pair{&cfg.user_tokens, "user_tokens"}})
    if (auto err = validate(*d, field))
      return err;
  if (cfg.prefix_groups > 1'000'000)
    return bad("prefix_groups", fmt::format("{} is above the limit of 1000000",
                                            cfg.prefix_groups));
  if (!non_negative(cfg.zipf_s) || cfg.zipf_s > 100.0)
    return bad("zipf_s", fmt::format("{} must be a finite number in [0, 100]", cfg.zipf_s));
  if (!(cfg.session_fraction >= 0.0 && cfg.session_fraction <= 1.0))
    return bad("session_fraction",
               fmt::format("{} must be a number in [0, 1]", cfg.session_fraction));
  return validate(cfg.layout);
}

std::vector<std::string_view> preset_names() {
  return {"shared-prefix", "multi-turn", "mixed"};
}

caf::expected<generator_config> preset(std::string_view name) {
  generator_config cfg;
  cfg.name = std::string{name};
  if (name == "shared-prefix") {
    cfg.requests = 1000;
    cfg.arrival.rate = 10.0;
    cfg.prefix_groups = 8;
    cfg.prefix_length = distribution::make_fixed(2048);
    cfg.isl = distribution::make_fixed(2048 + 256);
    cfg.osl = distribution::make_fixed(128);
  } else if (name == "multi-turn") {
    cfg.requests = 384;
    cfg.arrival.rate = 2.0;
    cfg.session_fraction = 1.0;
    cfg.turns = distribution::make_uniform(4, 8);
    cfg.think_time_s = distribution::make_uniform(1, 3);
    cfg.user_tokens = distribution::make_uniform(128, 512);
    cfg.osl = distribution::make_fixed(128);
  } else if (name == "mixed") {
    cfg.requests = 1000;
    cfg.arrival.rate = 8.0;
    cfg.prefix_groups = 16;
    cfg.prefix_length = distribution::make_fixed(1024);
    cfg.pick = group_pick::zipf;
    cfg.zipf_s = 1.0;
    cfg.isl = distribution::make_lognormal(2560, 0.5);
    cfg.osl = distribution::make_uniform(32, 256);
    cfg.session_fraction = 0.3;
    cfg.turns = distribution::make_uniform(2, 6);
    cfg.think_time_s = distribution::make_uniform(0.5, 2);
    cfg.user_tokens = distribution::make_uniform(64, 512);
    cfg.max_prompt_tokens = 16384;
  } else {
    return bad("preset", fmt::format("unknown preset '{}' (expected shared-prefix, multi-turn "
                                     "or mixed)",
                                     name));
  }
  return cfg;
}

caf::expected<std::vector<trace_record>> generate_trace(const generator_config& cfg) {
  if (auto err = validate(cfg))
    return err;
  const uint64_t limit = cfg.requests > 0 ? cfg.requests : max_generated_requests + 1;
  arrival_process arrivals{cfg.arrival, cfg.duration_s, cfg.seed};
  trace_builder builder{cfg};
  std::vector<trace_record> out;
  for (;;) {
    const double t = arrivals.next();
    if (!std::isfinite(t) || (cfg.duration_s > 0.0 && t >= cfg.duration_s))
      break;
    if (!builder.add_conversation(t, limit, out))
      break;
  }
  if (out.size() > max_generated_requests)
    return bad("duration_s", fmt::format("the workload would exceed {} requests; lower the rate "
                                         "or the duration, or set requests",
                                         max_generated_requests));
  return out;
}

caf::expected<workload> generate(const generator_config& cfg) {
  auto records = generate_trace(cfg);
  if (!records)
    return std::move(records.error());
  replay_options options;
  options.layout = cfg.layout;
  auto result = build_workload(*records, options, cfg.name);
  if (!result)
    return std::move(result.error());
  return std::move(result->w);
}

} // namespace dynamo::workload
