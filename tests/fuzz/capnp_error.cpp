// Fuzz target: an error (rpc.Error) as a flat Cap'n Proto message from the network
// (dynamo::capnp::decode_error). Decoding never throws and always yields a classified error
// that survives encode -> decode.
#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"
#include "dynamo/fuzz/check.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size % sizeof(::capnp::word) != 0)
    return 0;
  auto words = kj::heapArray<::capnp::word>(size / sizeof(::capnp::word));
  std::memcpy(words.begin(), data, size);
  caf::error err;
  try {
    ::capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 1u << 16;
    ::capnp::FlatArrayMessageReader reader{words, opts};
    err = dynamo::capnp::decode_error(reader.getRoot<dynamo::rpc::Error>());
  } catch (const kj::Exception&) {
    return 0; // the segment table itself is malformed: the RPC layer rejects such messages
  }
  auto code = dynamo::classify(err);
  DYNAMO_FUZZ_CHECK(code != dynamo::errc::none, "a decoded error is never none");
  ::capnp::MallocMessageBuilder message;
  dynamo::capnp::encode_error(err, message.initRoot<dynamo::rpc::Error>());
  auto again = dynamo::capnp::decode_error(message.getRoot<dynamo::rpc::Error>().asReader());
  DYNAMO_FUZZ_CHECK(dynamo::classify(again) == code, "the class survives encode -> decode");
  DYNAMO_FUZZ_CHECK(dynamo::client_message(again) == dynamo::client_message(err),
                    "the client message survives encode -> decode");
  return 0;
}
