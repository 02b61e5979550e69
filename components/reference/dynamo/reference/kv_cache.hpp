// The paged KV pool of the reference engine: one host allocation holding, for every layer and
// block, the keys and then the values of block_size positions. A (layer, block) pair is one
// contiguous region, so a block list can be moved layer by layer by the data plane.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace dynamo::reference {

/// Shape of the pool.
struct kv_geometry {
  uint32_t layers = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t block_size = 0;  ///< Positions per block.
  uint64_t blocks = 0;

  /// Floats of keys (or of values) in one (layer, block): block_size * kv_heads * head_dim.
  size_t half_floats() const noexcept {
    return size_t{block_size} * kv_heads * head_dim;
  }
  /// Bytes of one (layer, block) region: keys then values.
  size_t region_bytes() const noexcept { return 2 * half_floats() * sizeof(float); }
  /// Bytes of the whole pool.
  size_t total_bytes() const noexcept { return region_bytes() * layers * blocks; }
};

/// The pool. Layout: [layer][block][k|v][position in block][kv head][head_dim], fp32. Not
/// thread-safe; the runner's threads write disjoint regions.
class kv_cache {
public:
  /// Zero-fills `memory` (total_bytes() bytes, 64-byte aligned, borrowed: it must outlive the
  /// cache) and uses it as the pool; a null `memory` allocates the pool instead. Throws
  /// std::bad_alloc when it cannot allocate.
  explicit kv_cache(const kv_geometry& g, std::byte* memory = nullptr);

  /// Keys of (layer, block): half_floats() floats, [position][kv head][head_dim].
  float* keys(uint32_t layer, uint32_t block) noexcept {
    return data_ + region_offset(layer, block);
  }
  /// Values of (layer, block), laid out like keys.
  float* values(uint32_t layer, uint32_t block) noexcept {
    return keys(layer, block) + geometry_.half_floats();
  }
  /// The bytes of (layer, block): keys then values (for the data plane).
  std::span<std::byte> region(uint32_t layer, uint32_t block) noexcept {
    return {reinterpret_cast<std::byte*>(keys(layer, block)), geometry_.region_bytes()};
  }
  /// The whole pool (for registration with a data plane).
  std::span<std::byte> bytes() noexcept {
    return {reinterpret_cast<std::byte*>(data_), geometry_.total_bytes()};
  }
  /// The shape.
  const kv_geometry& geometry() const noexcept { return geometry_; }

private:
  size_t region_offset(uint32_t layer, uint32_t block) const noexcept {
    return (size_t{layer} * geometry_.blocks + block) * 2 * geometry_.half_floats();
  }

  kv_geometry geometry_;
  std::unique_ptr<float[]> owned_;  // empty when the memory was provided
  float* data_;
};

} // namespace dynamo::reference
