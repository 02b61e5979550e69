// Which bytes move in a disaggregated prefill: the (layer, block) regions of the prefill
// worker's KV pool copied into the decode worker's blocks, one coalesced list per layer so that
// layers can be sent as soon as they are computed.
#pragma once

#include "dynamo/engine/engine.hpp"
#include "dynamo/plane/data.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::disagg {

/// The shape of a KV pool without its memory: what a peer needs to address it.
struct kv_layout {
  uint32_t layers = 0;
  uint32_t blocks = 0;
  uint64_t region_bytes = 0;  ///< Bytes of one (layer, block) region.
  uint32_t block_size = 0;    ///< Tokens per block.

  /// Offset of region (layer, block) in the pool (layer-major, as engine::kv_pool_view).
  uint64_t offset(uint32_t layer, uint32_t block) const noexcept {
    return (uint64_t{layer} * blocks + block) * region_bytes;
  }
  /// Bytes of the whole pool.
  uint64_t bytes() const noexcept { return uint64_t{layers} * blocks * region_bytes; }

  friend bool operator==(const kv_layout&, const kv_layout&) = default;
};

/// The layout of `pool` with `block_size` tokens per block. Any thread.
kv_layout layout_of(const engine::kv_pool_view& pool, uint32_t block_size);

/// "layers=L;blocks=B;region_bytes=R;block_size=S" (for discovery metadata). Any thread.
std::string encode_layout(const kv_layout& layout);

/// Parses encode_layout's output. Errors: invalid_request naming the malformed or missing
/// field (every field must be present and >= 1). Any thread.
caf::expected<kv_layout> decode_layout(std::string_view text);

/// The copies of one layer.
struct layer_copies {
  uint32_t layer = 0;
  std::vector<block_copy> copies;  ///< Coalesced; local = source pool, remote = destination.
  uint64_t bytes = 0;              ///< Sum of the copies' lengths.
};

/// Plans the copy of blocks [first_block, src_blocks.size()) of a sequence from the source
/// pool (block table `src_blocks`) into the destination pool (block table `dst_blocks`,
/// position by position), one entry per layer in layer order (none when nothing is left to
/// copy). Errors: invalid_request when the layouts differ in layers, region_bytes or
/// block_size, when the tables differ in length, or when a block index is out of its pool
/// (naming it). Any thread.
caf::expected<std::vector<layer_copies>> plan_transfer(const kv_layout& src,
                                                       std::span<const uint32_t> src_blocks,
                                                       const kv_layout& dst,
                                                       std::span<const uint32_t> dst_blocks,
                                                       size_t first_block);

} // namespace dynamo::disagg
