// KV block hashing compatible with the anchor system: a block's local hash covers its tokens, its
// sequence hash chains the local hash onto the sequence hash of the block before it, so equal
// sequence hashes mean equal prefixes. Routers and engines must agree on these values bit for bit.
#pragma once

#include "dynamo/engine/types.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace dynamo::engine {

/// Seed of every XXH3-64 hash in the block hashing scheme.
constexpr uint64_t block_hash_seed = 1337;

/// XXH3-64 of the block's tokens as little-endian u32 bytes. Any thread; never fails.
uint64_t local_block_hash(std::span<const token_id> block, uint64_t seed = block_hash_seed);

/// XXH3-64 (seed 1337) of the little-endian bytes of [parent, local]: the sequence hash of a block
/// whose predecessor has sequence hash `parent`. Any thread; never fails.
uint64_t chain_sequence_hash(uint64_t parent, uint64_t local) noexcept;

/// Local hashes of every full block of `block_size` tokens; a trailing partial block is not
/// hashed. Returns an empty vector when `block_size` is 0. Any thread.
std::vector<uint64_t> local_block_hashes(std::span<const token_id> tokens, uint32_t block_size);

/// Chains local hashes into sequence hashes: seq[0] = local[0], seq[i] =
/// chain_sequence_hash(seq[i-1], local[i]). Any thread.
std::vector<uint64_t> sequence_hashes(std::span<const uint64_t> local_hashes);

/// Local and sequence hashes of the full blocks of a token sequence (parallel vectors).
struct block_hashes {
  std::vector<uint64_t> local;     ///< Per-block token hashes.
  std::vector<uint64_t> sequence;  ///< Chained sequence hashes, parallel to `local`.
};

/// Both hash vectors for the full blocks of `tokens`; empty when `block_size` is 0. Any thread.
block_hashes hash_blocks(std::span<const token_id> tokens, uint32_t block_size);

} // namespace dynamo::engine
