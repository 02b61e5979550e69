#include "dynamo/workload/prompt_builder.hpp"

#include "dynamo/error.hpp"
#include "dynamo/workload/distribution.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>

namespace dynamo::workload {

namespace {

constexpr uint64_t golden_gamma = 0x9e3779b97f4a7c15ull;
constexpr uint32_t max_block_size = 1u << 20;

std::optional<uint32_t> parse_u32(std::string_view text) {
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  uint32_t x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return x;
}

} // namespace

caf::expected<token_range> parse_token_range(std::string_view text) {
  auto sep = text.find_first_of("-,");
  if (sep == std::string_view::npos)
    return make_error(errc::invalid_request,
                      fmt::format("bad token range '{}': expected LO-HI", text));
  auto lo = parse_u32(text.substr(0, sep));
  auto hi = parse_u32(text.substr(sep + 1));
  if (!lo || !hi)
    return make_error(errc::invalid_request,
                      fmt::format("bad token range '{}': LO and HI must be integers in "
                                  "[0, 4294967295]",
                                  text));
  token_range range{*lo, *hi};
  if (auto err = validate(range, "token range"))
    return err;
  return range;
}

caf::error validate(const token_range& range, std::string_view field) {
  if (range.lo >= range.hi)
    return make_error(errc::invalid_request,
                      fmt::format("{}: [{}, {}) is empty; LO must be below HI", field, range.lo,
                                  range.hi));
  return {};
}

caf::error validate(const prompt_layout& layout) {
  if (layout.block_size == 0 || layout.block_size > max_block_size)
    return make_error(errc::invalid_request,
                      fmt::format("block_size: {} is out of range [1, {}]", layout.block_size,
                                  max_block_size));
  return validate(layout.tokens, "tokens");
}

void append_block_tokens(std::vector<uint32_t>& out, uint64_t hash_id, uint32_t count,
                         token_range range, uint64_t salt) {
  const uint64_t span = range.hi > range.lo ? uint64_t{range.hi} - range.lo : 1;
  // A counter-based stream: token i of the block depends only on (salt, hash_id, i).
  uint64_t state = mix64(salt ^ mix64(hash_id + golden_gamma));
  out.reserve(out.size() + count);
  for (uint32_t i = 0; i < count; ++i) {
    state += golden_gamma;
    // Multiply-shift maps the top 32 bits onto [0, span) with negligible bias (span < 2^32).
    const uint64_t z = mix64(state) >> 32;
    out.push_back(range.lo + static_cast<uint32_t>((z * span) >> 32));
  }
}

std::vector<uint32_t> block_tokens(uint64_t hash_id, uint32_t block_size, token_range range,
                                   uint64_t salt) {
  std::vector<uint32_t> out;
  append_block_tokens(out, hash_id, block_size, range, salt);
  return out;
}

caf::expected<std::vector<uint32_t>> build_prompt(std::span<const uint64_t> hash_ids,
                                                  uint32_t length, const prompt_layout& layout) {
  if (auto err = validate(layout))
    return err;
  const uint64_t k = hash_ids.size();
  const uint64_t bs = layout.block_size;
  if (length == 0 || k == 0 || length > k * bs || length <= (k - 1) * bs)
    return make_error(errc::invalid_request,
                      fmt::format("a prompt of {} tokens spans {} blocks of {} tokens, but {} "
                                  "hash ids were given",
                                  length, blocks_for(length, layout.block_size), bs, k));
  std::vector<uint32_t> out;
  out.reserve(length);
  for (uint64_t i = 0; i < k; ++i) {
    const auto count = static_cast<uint32_t>(std::min<uint64_t>(bs, length - i * bs));
    append_block_tokens(out, hash_ids[i], count, layout.tokens, layout.salt);
  }
  return out;
}

} // namespace dynamo::workload
