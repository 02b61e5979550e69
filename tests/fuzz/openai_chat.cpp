// Fuzz target: POST /v1/chat/completions bodies (dynamo::openai::parse_request, chat).
#include "openai_request.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dynamo::fuzz::check_openai_request(dynamo::fuzz::as_text(data, size),
                                     dynamo::openai::api_kind::chat);
  return 0;
}
