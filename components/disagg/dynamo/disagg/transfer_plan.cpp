#include "dynamo/disagg/transfer_plan.hpp"

#include "dynamo/error.hpp"
#include "dynamo/parse_number.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>

namespace dynamo::disagg {

namespace {

constexpr std::array<std::string_view, 4> layout_keys{"layers", "blocks", "region_bytes",
                                                      "block_size"};

/// True when layers x blocks x region_bytes fits in 64 bits (so that every offset does).
bool addressable(const kv_layout& x) noexcept {
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  const uint64_t regions = uint64_t{x.layers} * x.blocks;
  return x.region_bytes == 0 || regions <= max / x.region_bytes;
}

caf::error check_table(std::string_view side, const kv_layout& layout,
                       std::span<const uint32_t> table) {
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i] >= layout.blocks)
      return make_error(errc::invalid_request,
                        fmt::format("{} block {} at position {} is out of its pool of {} blocks",
                                    side, table[i], i, layout.blocks));
  return {};
}

caf::error check_distinct(std::span<const uint32_t> table) {
  std::vector<uint32_t> sorted(table.begin(), table.end());
  std::sort(sorted.begin(), sorted.end());
  auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end())
    return make_error(errc::invalid_request,
                      fmt::format("destination block {} appears twice in the copied range",
                                  *dup));
  return {};
}

} // namespace

kv_layout layout_of(const engine::kv_pool_view& pool, uint32_t block_size) {
  return kv_layout{pool.layers, pool.blocks, pool.region_bytes, block_size};
}

std::string encode_layout(const kv_layout& layout) {
  return fmt::format("layers={};blocks={};region_bytes={};block_size={}", layout.layers,
                     layout.blocks, layout.region_bytes, layout.block_size);
}

caf::expected<kv_layout> decode_layout(std::string_view text) {
  std::array<std::optional<uint64_t>, layout_keys.size()> values;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find(';', pos);
    if (end == std::string_view::npos)
      end = text.size();
    auto item = text.substr(pos, end - pos);
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      return make_error(errc::invalid_request,
                        fmt::format("malformed KV layout item '{}' (expected key=value)", item));
    auto key = item.substr(0, eq);
    auto it = std::find(layout_keys.begin(), layout_keys.end(), key);
    if (it == layout_keys.end())
      return make_error(errc::invalid_request, fmt::format("unknown KV layout field '{}'", key));
    auto& slot = values[static_cast<size_t>(it - layout_keys.begin())];
    if (slot)
      return make_error(errc::invalid_request, fmt::format("duplicate KV layout field '{}'", key));
    auto value = parse_integer<uint64_t>(item.substr(eq + 1));
    if (!value || *value == 0)
      return make_error(errc::invalid_request,
                        fmt::format("KV layout field '{}' must be an integer >= 1, got '{}'", key,
                                    item.substr(eq + 1)));
    slot = *value;
    pos = end + 1;
  }
  for (size_t i = 0; i < layout_keys.size(); ++i)
    if (!values[i])
      return make_error(errc::invalid_request,
                        fmt::format("KV layout field '{}' is missing", layout_keys[i]));
  constexpr uint64_t max32 = std::numeric_limits<uint32_t>::max();
  for (size_t i : {size_t{0}, size_t{1}, size_t{3}})
    if (*values[i] > max32)
      return make_error(errc::invalid_request,
                        fmt::format("KV layout field '{}' exceeds 32 bits", layout_keys[i]));
  kv_layout out{static_cast<uint32_t>(*values[0]), static_cast<uint32_t>(*values[1]), *values[2],
                static_cast<uint32_t>(*values[3])};
  if (!addressable(out))
    return make_error(errc::invalid_request, "KV layout exceeds a 64-bit address space");
  return out;
}

caf::expected<std::vector<layer_copies>> plan_transfer(const kv_layout& src,
                                                       std::span<const uint32_t> src_blocks,
                                                       const kv_layout& dst,
                                                       std::span<const uint32_t> dst_blocks,
                                                       size_t first_block) {
  if (src.layers != dst.layers || src.region_bytes != dst.region_bytes
      || src.block_size != dst.block_size)
    return make_error(errc::invalid_request,
                      fmt::format("KV layouts differ: source {} vs destination {}",
                                  encode_layout(src), encode_layout(dst)));
  if (src_blocks.size() != dst_blocks.size())
    return make_error(errc::invalid_request,
                      fmt::format("block tables differ in length: source {} vs destination {}",
                                  src_blocks.size(), dst_blocks.size()));
  if (!addressable(src) || !addressable(dst))
    return make_error(errc::invalid_request, "KV layout exceeds a 64-bit address space");
  if (auto err = check_table("source", src, src_blocks))
    return err;
  if (auto err = check_table("destination", dst, dst_blocks))
    return err;
  std::vector<layer_copies> out;
  if (first_block >= src_blocks.size() || src.layers == 0)
    return out;
  if (src.region_bytes == 0)
    return make_error(errc::invalid_request, "KV layout has regions of 0 bytes");
  auto src_range = src_blocks.subspan(first_block);
  auto dst_range = dst_blocks.subspan(first_block);
  if (auto err = check_distinct(dst_range))
    return err;
  out.reserve(src.layers);
  for (uint32_t layer = 0; layer < src.layers; ++layer) {
    std::vector<block_copy> copies;
    copies.reserve(src_range.size());
    for (size_t i = 0; i < src_range.size(); ++i)
      copies.push_back(block_copy{src.offset(layer, src_range[i]), dst.offset(layer, dst_range[i]),
                                  src.region_bytes});
    out.push_back(layer_copies{layer, coalesce(std::move(copies)),
                               src_range.size() * src.region_bytes});
  }
  return out;
}

} // namespace dynamo::disagg
