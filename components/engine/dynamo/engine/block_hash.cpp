#include "dynamo/engine/block_hash.hpp"

#include <xxhash.h>

#include <array>
#include <bit>

namespace dynamo::engine {

namespace {

static_assert(sizeof(token_id) == 4, "the hashing scheme is defined over u32 tokens");

constexpr size_t stack_block_tokens = 256;

template <class T>
void store_le(T value, unsigned char* out) noexcept {
  for (size_t i = 0; i < sizeof(T); ++i)
    out[i] = static_cast<unsigned char>(value >> (8 * i));
}

} // namespace

uint64_t local_block_hash(std::span<const token_id> block, uint64_t seed) {
  if constexpr (std::endian::native == std::endian::little) {
    return XXH3_64bits_withSeed(block.data(), block.size_bytes(), seed);
  } else {
    // Big-endian hosts hash a little-endian copy; blocks are small, so stack space usually does.
    std::array<unsigned char, stack_block_tokens * sizeof(token_id)> small;
    std::vector<unsigned char> large;
    unsigned char* bytes = small.data();
    if (block.size() > stack_block_tokens) {
      large.resize(block.size_bytes());
      bytes = large.data();
    }
    for (size_t i = 0; i < block.size(); ++i)
      store_le(block[i], bytes + i * sizeof(token_id));
    return XXH3_64bits_withSeed(bytes, block.size_bytes(), seed);
  }
}

uint64_t chain_sequence_hash(uint64_t parent, uint64_t local) noexcept {
  std::array<unsigned char, 2 * sizeof(uint64_t)> bytes;
  store_le(parent, bytes.data());
  store_le(local, bytes.data() + sizeof(uint64_t));
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), block_hash_seed);
}

std::vector<uint64_t> local_block_hashes(std::span<const token_id> tokens, uint32_t block_size) {
  std::vector<uint64_t> result;
  if (block_size == 0)
    return result;
  const size_t full_blocks = tokens.size() / block_size;
  result.reserve(full_blocks);
  for (size_t i = 0; i < full_blocks; ++i)
    result.push_back(local_block_hash(tokens.subspan(i * block_size, block_size)));
  return result;
}

std::vector<uint64_t> sequence_hashes(std::span<const uint64_t> local_hashes) {
  std::vector<uint64_t> result;
  result.reserve(local_hashes.size());
  for (size_t i = 0; i < local_hashes.size(); ++i)
    result.push_back(i == 0 ? local_hashes[0] : chain_sequence_hash(result.back(), local_hashes[i]));
  return result;
}

block_hashes hash_blocks(std::span<const token_id> tokens, uint32_t block_size) {
  block_hashes result;
  result.local = local_block_hashes(tokens, block_size);
  result.sequence = sequence_hashes(result.local);
  return result;
}

} // namespace dynamo::engine
