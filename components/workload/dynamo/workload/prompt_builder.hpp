// Deterministic synthetic prompts: a block of tokens is a pure function of (salt, hash id), and a
// prompt is the concatenation of its blocks, so two prompts that name the same hash ids share
// exactly those tokens (and therefore KV cache blocks) while different ids never collide in
// practice. Token ids are what the load driver sends: no tokenizer is involved.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace dynamo::workload {

/// Token ids are drawn uniformly from [lo, hi). The default fits every vocabulary: the builtin
/// byte tokenizer of models served without files (258 ids), byte-level BPE (ids 0-255 are the
/// bytes) and SentencePiece (0-2 are unk/bos/eos), whose special tokens sit outside it.
struct token_range {
  uint32_t lo = 3;    ///< Smallest id drawn.
  uint32_t hi = 256;  ///< One past the largest id drawn (> lo).
  friend bool operator==(const token_range&, const token_range&) = default;
};

/// Parses "LO-HI" (or "LO,HI"); any thread. Errors: invalid_request unless LO < HI are integers
/// in the u32 range.
caf::expected<token_range> parse_token_range(std::string_view text);

/// invalid_request naming `field` unless range.lo < range.hi. Any thread.
caf::error validate(const token_range& range, std::string_view field);

/// How prompts are built from hash ids.
struct prompt_layout {
  uint32_t block_size = 512;  ///< Tokens per hash block (Mooncake traces use 512).
  token_range tokens;         ///< Where token ids are drawn from.
  uint64_t salt = 0;          ///< Changes every block's content (e.g. to defeat a warm cache).
};

/// invalid_request naming the field unless block_size is in [1, 1 << 20] and the range valid.
caf::error validate(const prompt_layout& layout);

/// The `block_size` tokens of block `hash_id`: a pure function of (salt, hash_id), ids uniform in
/// [range.lo, range.hi). The first k tokens do not depend on block_size, so a partial block is a
/// prefix of the full one. An empty range (lo >= hi) yields lo everywhere. Any thread.
std::vector<uint32_t> block_tokens(uint64_t hash_id, uint32_t block_size, token_range range = {},
                                   uint64_t salt = 0);

/// Appends the first `count` tokens of block `hash_id` to `out` (what block_tokens returns for
/// block_size = count). Any thread.
void append_block_tokens(std::vector<uint32_t>& out, uint64_t hash_id, uint32_t count,
                         token_range range, uint64_t salt);

/// The prompt of `length` tokens made of `hash_ids`: every block full except the last, which
/// holds the remaining 1..block_size tokens. Any thread. Errors: invalid_request unless
/// (k - 1) * block_size < length <= k * block_size for k = hash_ids.size(), or when the layout
/// is invalid.
caf::expected<std::vector<uint32_t>> build_prompt(std::span<const uint64_t> hash_ids,
                                                  uint32_t length, const prompt_layout& layout);

/// Number of blocks a prompt of `length` tokens spans: ceil(length / block_size) (0 when
/// block_size is 0). Any thread.
constexpr uint64_t blocks_for(uint64_t length, uint32_t block_size) noexcept {
  return block_size == 0 ? 0 : (length + block_size - 1) / block_size;
}

} // namespace dynamo::workload
