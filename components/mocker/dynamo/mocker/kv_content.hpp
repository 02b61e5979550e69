// The simulated KV content of the mocker: every (layer, block) region holds a pattern that is a
// pure function of the block's tokens, its position in the sequence and the layer, so that KV
// moved between two mockers (disaggregated serving) can be checked byte for byte.
#pragma once

#include "dynamo/engine/types.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace dynamo::mocker {

/// The key of block `block` of a sequence whose first `end` tokens are computed: the block's
/// chained sequence hash when it is full (end >= (block + 1) * block_size), else a hash of the
/// tokens present chained onto the previous block's sequence hash. `sequence_hashes` holds the
/// sequence hash of every full block of `tokens`. Preconditions: block_size > 0,
/// block * block_size < end <= tokens.size(). Any thread.
uint64_t kv_block_key(std::span<const engine::token_id> tokens,
                      std::span<const uint64_t> sequence_hashes, uint32_t block_size,
                      uint32_t block, uint32_t end) noexcept;

/// The pattern seed of one layer of a block with key `key`. Any thread.
uint64_t kv_pattern_seed(uint64_t key, uint32_t layer) noexcept;

/// Writes the pattern of `seed` into `words`: word i = seed + i * an odd constant. Any thread.
void fill_kv_pattern(std::span<uint64_t> words, uint64_t seed) noexcept;

/// Byte offset of the first byte of `words` that differs from the pattern of `seed`, or
/// words.size_bytes() when all match. Any thread.
size_t find_kv_mismatch(std::span<const uint64_t> words, uint64_t seed) noexcept;

} // namespace dynamo::mocker
