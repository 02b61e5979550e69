#include "dynamo/mocker/kv_content.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/engine/mix.hpp"

#include <bit>

namespace dynamo::mocker {

namespace {

// Step between consecutive words of a pattern (odd, so no two words of a region repeat).
constexpr uint64_t pattern_step = 0xd6e8feb86659fd93ull;

// Keeps keys of partial blocks apart from sequence hashes of full ones.
constexpr uint64_t partial_salt = 0x7061727469616c21ull;  // "partial!"

} // namespace

uint64_t kv_block_key(std::span<const engine::token_id> tokens,
                      std::span<const uint64_t> sequence_hashes, uint32_t block_size,
                      uint32_t block, uint32_t end) noexcept {
  const uint64_t first = uint64_t{block} * block_size;
  if (uint64_t{end} >= first + block_size && block < sequence_hashes.size())
    return sequence_hashes[block];
  const uint64_t parent = block == 0 || block > sequence_hashes.size()
                            ? partial_salt
                            : sequence_hashes[block - 1];
  const auto present = tokens.subspan(first, end - first);
  return engine::chain_sequence_hash(parent, engine::local_block_hash(present) ^ partial_salt);
}

uint64_t kv_pattern_seed(uint64_t key, uint32_t layer) noexcept {
  return engine::mix64(key + (uint64_t{layer} + 1) * engine::golden_gamma);
}

void fill_kv_pattern(std::span<uint64_t> words, uint64_t seed) noexcept {
  uint64_t* out = words.data();
  const size_t count = words.size();
  for (size_t i = 0; i < count; ++i)
    out[i] = seed + i * pattern_step;
}

size_t find_kv_mismatch(std::span<const uint64_t> words, uint64_t seed) noexcept {
  const uint64_t* in = words.data();
  const size_t count = words.size();
  uint64_t diff = 0;
  for (size_t i = 0; i < count; ++i)
    diff |= in[i] ^ (seed + i * pattern_step);
  if (diff == 0)
    return words.size_bytes();
  for (size_t i = 0; i < count; ++i) {
    const uint64_t x = in[i] ^ (seed + i * pattern_step);
    if (x == 0)
      continue;
    const int bit = std::endian::native == std::endian::little ? std::countr_zero(x)
                                                               : std::countl_zero(x);
    return i * sizeof(uint64_t) + static_cast<size_t>(bit / 8);
  }
  return words.size_bytes();
}

} // namespace dynamo::mocker
