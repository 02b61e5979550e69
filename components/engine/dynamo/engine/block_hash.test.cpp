#include "dynamo/engine/block_hash.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <numeric>
#include <vector>

namespace dynamo::engine {
namespace {

std::vector<token_id> iota_tokens(size_t n, token_id first = 1) {
  std::vector<token_id> result(n);
  std::iota(result.begin(), result.end(), first);
  return result;
}

std::vector<unsigned char> le_bytes_u32(const std::vector<token_id>& tokens) {
  std::vector<unsigned char> bytes;
  for (auto t : tokens)
    for (int i = 0; i < 4; ++i)
      bytes.push_back(static_cast<unsigned char>((t >> (8 * i)) & 0xff));
  return bytes;
}

std::vector<unsigned char> le_bytes_u64(std::initializer_list<uint64_t> values) {
  std::vector<unsigned char> bytes;
  for (auto v : values)
    for (int i = 0; i < 8; ++i)
      bytes.push_back(static_cast<unsigned char>((v >> (8 * i)) & 0xff));
  return bytes;
}

TEST(block_hash, local_hash_is_xxh3_over_little_endian_u32_bytes) {
  std::vector<token_id> block{0x01020304u, 0xa0b0c0d0u, 7u, 0xffffffffu};
  auto bytes = le_bytes_u32(block);
  ASSERT_EQ(bytes.size(), 16u);
  EXPECT_EQ(bytes[0], 0x04);
  EXPECT_EQ(bytes[3], 0x01);
  EXPECT_EQ(local_block_hash(block), XXH3_64bits_withSeed(bytes.data(), bytes.size(), 1337));
  EXPECT_NE(local_block_hash(block), XXH3_64bits_withSeed(bytes.data(), bytes.size(), 0));
  EXPECT_EQ(local_block_hash(block, 0), XXH3_64bits_withSeed(bytes.data(), bytes.size(), 0));
  EXPECT_EQ(block_hash_seed, 1337u);
}

TEST(block_hash, chain_hash_is_xxh3_over_two_little_endian_u64) {
  const uint64_t parent = 0x0102030405060708ull;
  const uint64_t local = 0x1122334455667788ull;
  auto bytes = le_bytes_u64({parent, local});
  EXPECT_EQ(bytes[0], 0x08);
  EXPECT_EQ(bytes[8], 0x88);
  EXPECT_EQ(chain_sequence_hash(parent, local),
            XXH3_64bits_withSeed(bytes.data(), bytes.size(), 1337));
  EXPECT_NE(chain_sequence_hash(parent, local), chain_sequence_hash(local, parent));
}

TEST(block_hash, trailing_partial_block_is_not_hashed) {
  auto tokens = iota_tokens(4 * 3 + 2);
  auto hashes = hash_blocks(tokens, 4);
  ASSERT_EQ(hashes.local.size(), 3u);
  ASSERT_EQ(hashes.sequence.size(), 3u);
  auto exact = hash_blocks(std::span{tokens}.first(12), 4);
  EXPECT_EQ(hashes.local, exact.local);
  EXPECT_EQ(hashes.sequence, exact.sequence);
  EXPECT_TRUE(local_block_hashes(std::span{tokens}.first(3), 4).empty());
  EXPECT_TRUE(hash_blocks(tokens, 0).local.empty());
  EXPECT_TRUE(hash_blocks({}, 16).sequence.empty());
}

TEST(block_hash, local_hashes_cover_each_block) {
  auto tokens = iota_tokens(8);
  auto local = local_block_hashes(tokens, 4);
  ASSERT_EQ(local.size(), 2u);
  EXPECT_EQ(local[0], local_block_hash(std::span{tokens}.first(4)));
  EXPECT_EQ(local[1], local_block_hash(std::span{tokens}.subspan(4, 4)));
}

TEST(block_hash, sequence_hashes_chain_on_the_prefix) {
  auto tokens = iota_tokens(12);
  auto hashes = hash_blocks(tokens, 4);
  ASSERT_EQ(hashes.sequence.size(), 3u);
  EXPECT_EQ(hashes.sequence[0], hashes.local[0]);
  EXPECT_EQ(hashes.sequence[1], chain_sequence_hash(hashes.sequence[0], hashes.local[1]));
  EXPECT_EQ(hashes.sequence[2], chain_sequence_hash(hashes.sequence[1], hashes.local[2]));
  EXPECT_EQ(sequence_hashes(hashes.local), hashes.sequence);

  // Changing the first block changes every sequence hash but only the first local hash.
  auto other = tokens;
  other[0] = 999;
  auto changed = hash_blocks(other, 4);
  EXPECT_NE(changed.local[0], hashes.local[0]);
  EXPECT_EQ(changed.local[1], hashes.local[1]);
  EXPECT_EQ(changed.local[2], hashes.local[2]);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NE(changed.sequence[i], hashes.sequence[i]) << "block " << i;
}

TEST(block_hash, same_block_at_different_positions_has_different_sequence_hashes) {
  std::vector<token_id> tokens{5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8};
  auto hashes = hash_blocks(tokens, 4);
  EXPECT_THAT(hashes.local, ::testing::Each(hashes.local[0]));
  EXPECT_NE(hashes.sequence[0], hashes.sequence[1]);
  EXPECT_NE(hashes.sequence[1], hashes.sequence[2]);
  EXPECT_NE(hashes.sequence[0], hashes.sequence[2]);
}

TEST(block_hash, shared_prefixes_share_sequence_hashes) {
  auto a = iota_tokens(16);
  auto b = a;
  b[13] = 4242;
  auto ha = hash_blocks(a, 4);
  auto hb = hash_blocks(b, 4);
  EXPECT_EQ(std::vector(ha.sequence.begin(), ha.sequence.begin() + 3),
            std::vector(hb.sequence.begin(), hb.sequence.begin() + 3));
  EXPECT_NE(ha.sequence[3], hb.sequence[3]);
}

} // namespace
} // namespace dynamo::engine
