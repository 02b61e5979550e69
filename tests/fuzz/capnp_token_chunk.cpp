// Fuzz target: a TokenChunk as a flat Cap'n Proto message from the network
// (dynamo::actors::wire::decode_token_chunk). What decodes must survive encode -> decode.
#include "dynamo/actors/wire/generate_codec.hpp"
#include "dynamo/error.hpp"
#include "dynamo/fuzz/check.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dynamo::actors::wire;
  auto chunk = decode_token_chunk(data, size);
  if (!chunk) {
    DYNAMO_FUZZ_CHECK(dynamo::classify(chunk.error()) == dynamo::errc::invalid_request,
                      "a rejected chunk is invalid_request");
    return 0;
  }
  ::capnp::MallocMessageBuilder message;
  encode(*chunk, message.initRoot<schema::TokenChunk>());
  auto words = ::capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  auto again = decode_token_chunk(bytes.begin(), bytes.size());
  DYNAMO_FUZZ_CHECK(again, "an encoded chunk must decode");
  DYNAMO_FUZZ_CHECK(again->tokens == chunk->tokens && again->finish == chunk->finish
                      && again->prompt_tokens == chunk->prompt_tokens
                      && again->cached_prompt_tokens == chunk->cached_prompt_tokens,
                    "decode(encode(x)) == x");
  return 0;
}
