// Fuzz target: a GenerateSummary as a flat Cap'n Proto message from the network
// (dynamo::actors::wire::decode_generate_summary). What decodes must survive encode -> decode.
#include "dynamo/actors/wire/generate_codec.hpp"
#include "dynamo/error.hpp"
#include "dynamo/fuzz/check.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dynamo::actors::wire;
  auto summary = decode_generate_summary(data, size);
  if (!summary) {
    DYNAMO_FUZZ_CHECK(dynamo::classify(summary.error()) == dynamo::errc::invalid_request,
                      "a rejected summary is invalid_request");
    return 0;
  }
  ::capnp::MallocMessageBuilder message;
  encode(*summary, message.initRoot<schema::GenerateSummary>());
  auto words = ::capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  auto again = decode_generate_summary(bytes.begin(), bytes.size());
  DYNAMO_FUZZ_CHECK(again, "an encoded summary must decode");
  DYNAMO_FUZZ_CHECK(again->worker_instance == summary->worker_instance
                      && again->completion_tokens == summary->completion_tokens
                      && again->finish == summary->finish,
                    "decode(encode(x)) == x");
  return 0;
}
