#include "dynamo/batching/sequence.hpp"

#include "dynamo/engine/block_hash.hpp"

#include <algorithm>
#include <span>

namespace dynamo::batching {

sequence::sequence(engine::sequence_request&& req, uint32_t tokens_per_block, uint64_t token_seed)
  : id(req.id),
    block_size(tokens_per_block),
    prompt_len(static_cast<uint32_t>(req.prompt.size())),
    max_tokens(req.stop.max_tokens),
    stream_seed(token_seed),
    sampling(req.sampling),
    tokens(std::move(req.prompt)),
    stop_tokens(std::move(req.stop.stop_token_ids)),
    hold_kv(req.hold_kv) {
  const uint64_t max_len = uint64_t{prompt_len} + max_tokens;
  tokens.reserve(max_len);
  const uint64_t max_blocks = (max_len + block_size - 1) / block_size;
  blocks.reserve(max_blocks);
  auto hashes = engine::hash_blocks(tokens, block_size);
  local_hashes = std::move(hashes.local);
  sequence_hashes = std::move(hashes.sequence);
  local_hashes.reserve(max_blocks);
  sequence_hashes.reserve(max_blocks);
}

void sequence::append_token(engine::token_id token) {
  tokens.push_back(token);
  if (tokens.size() % block_size != 0)
    return;
  auto block = std::span{tokens}.last(block_size);
  const auto local = engine::local_block_hash(block);
  local_hashes.push_back(local);
  sequence_hashes.push_back(sequence_hashes.empty()
                              ? local
                              : engine::chain_sequence_hash(sequence_hashes.back(), local));
}

bool sequence::is_stop(engine::token_id token) const noexcept {
  return std::find(stop_tokens.begin(), stop_tokens.end(), token) != stop_tokens.end();
}

uint64_t sequence::pending_prefill() const noexcept {
  switch (phase) {
    case sequence_phase::waiting:
      return tokens.size();
    case sequence_phase::prefilling:
      return prefill_target - computed;
    default:
      return 0;
  }
}

} // namespace dynamo::batching
