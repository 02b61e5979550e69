#include "dynamo/mocker/output_tokens.hpp"

#include "dynamo/engine/block_hash.hpp"
#include "dynamo/engine/mix.hpp"

namespace dynamo::mocker {

using engine::golden_gamma;
using engine::mix64;

uint64_t token_stream_seed(const engine::sequence_request& req, uint64_t config_seed) {
  const uint64_t base = req.sampling.seed ? *req.sampling.seed
                                          : engine::local_block_hash(req.prompt);
  return mix64(base ^ mix64(config_seed + golden_gamma));
}

engine::token_id output_token(uint64_t stream_seed, uint32_t position, engine::token_id token_min,
                              engine::token_id token_max) noexcept {
  const uint64_t range = uint64_t{token_max} - token_min + 1;
  const uint64_t value = mix64(stream_seed + (uint64_t{position} + 1) * golden_gamma);
  return static_cast<engine::token_id>(token_min + value % range);
}

} // namespace dynamo::mocker
