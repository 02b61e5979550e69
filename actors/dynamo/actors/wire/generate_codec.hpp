// Conversions between the generate interface's value types and their Cap'n Proto form. Reading
// validates: malformed or out-of-range wire data is rejected with invalid_request, never a crash.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/wire/generate.capnp.h"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>

namespace dynamo::actors::wire {

/// Bounds applied when reading from the wire.
struct wire_limits {
  size_t max_model_bytes = 4096;
  size_t max_tokens = 1u << 22;            ///< Prompt and chunk token lists.
  size_t max_stop_token_ids = 4096;
};

/// Writes `x` into `out`. Any thread owning the builder.
void encode(const generate_request& x, schema::GenerateRequest::Builder out);
/// Writes `x` into `out`.
void encode(const token_chunk& x, schema::TokenChunk::Builder out);
/// Writes `x` into `out`.
void encode(const generate_summary& x, schema::GenerateSummary::Builder out);

/// Reads a request: invalid_request for oversized lists, non-finite or negative sampling
/// values, max_tokens = 0, a negative deadline or malformed data.
caf::expected<generate_request> decode(schema::GenerateRequest::Reader in,
                                       const wire_limits& limits = {});
/// Reads a chunk: invalid_request for an unknown finish reason, oversized or malformed data.
caf::expected<token_chunk> decode(schema::TokenChunk::Reader in, const wire_limits& limits = {});
/// Reads a summary: invalid_request for an unknown finish reason or malformed data.
caf::expected<generate_summary> decode(schema::GenerateSummary::Reader in);

/// Reads a GenerateRequest from a flat (unpacked, single-segment-table) Cap'n Proto message,
/// as received from the network. invalid_request on anything malformed. For tests and fuzzing.
caf::expected<generate_request> decode_generate_request(const uint8_t* data, size_t size);
/// Same for a TokenChunk.
caf::expected<token_chunk> decode_token_chunk(const uint8_t* data, size_t size);
/// Same for a GenerateSummary.
caf::expected<generate_summary> decode_generate_summary(const uint8_t* data, size_t size);

} // namespace dynamo::actors::wire
