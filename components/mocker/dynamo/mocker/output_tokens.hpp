// Deterministic output tokens: the mocker "samples" by hashing (stream seed, position), so the
// same request always yields the same text, independent of batching and preemption.
#pragma once

#include "dynamo/engine/types.hpp"

#include <cstdint>

namespace dynamo::mocker {

/// The seed of a request's token stream: the request's sampling seed if set, else a hash of its
/// prompt, mixed with the engine-wide `config_seed`. Any thread.
uint64_t token_stream_seed(const engine::sequence_request& req, uint64_t config_seed);

/// The token at 0-based output `position` of the stream `stream_seed`, uniform in
/// [token_min, token_max]. Precondition: token_min <= token_max. Any thread.
engine::token_id output_token(uint64_t stream_seed, uint32_t position, engine::token_id token_min,
                              engine::token_id token_max) noexcept;

} // namespace dynamo::mocker
