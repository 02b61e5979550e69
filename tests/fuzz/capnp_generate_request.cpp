// Fuzz target: a GenerateRequest as a flat Cap'n Proto message from the network
// (dynamo::actors::wire::decode_generate_request). What decodes must survive encode -> decode.
#include "dynamo/actors/wire/generate_codec.hpp"
#include "dynamo/error.hpp"
#include "dynamo/fuzz/check.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dynamo::actors::wire;
  auto req = decode_generate_request(data, size);
  if (!req) {
    DYNAMO_FUZZ_CHECK(dynamo::classify(req.error()) == dynamo::errc::invalid_request,
                      "a rejected request is invalid_request");
    return 0;
  }
  ::capnp::MallocMessageBuilder message;
  encode(*req, message.initRoot<schema::GenerateRequest>());
  auto words = ::capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  auto again = decode_generate_request(bytes.begin(), bytes.size());
  DYNAMO_FUZZ_CHECK(again, "an encoded request must decode");
  DYNAMO_FUZZ_CHECK(again->id == req->id && again->model == req->model
                      && again->tokens == req->tokens
                      && again->stop.stop_token_ids == req->stop.stop_token_ids
                      && again->sampling.seed == req->sampling.seed
                      && again->deadline_unix_ms == req->deadline_unix_ms,
                    "decode(encode(x)) == x");
  return 0;
}
