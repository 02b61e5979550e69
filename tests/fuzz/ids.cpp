// Fuzz target: the ids peers send us as text — instance ids (discovery keys, event publisher
// ids) and endpoint addresses — and the discovery key mapping of the NATS backend. What parses
// must render back to the canonical text and parse to the same value.
#include "dynamo/fuzz/check.hpp"
#include "dynamo/ids.hpp"
#include "dynamo/nats/internal/record_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = dynamo::fuzz::as_text(data, size);
  if (auto id = dynamo::instance_id::parse(text)) {
    auto canonical = id->to_string();
    DYNAMO_FUZZ_CHECK(canonical.size() == 16, "instance ids render as 16 hex digits");
    auto again = dynamo::instance_id::parse(canonical);
    DYNAMO_FUZZ_CHECK(again && *again == *id, "instance id round trip");
  }
  if (auto ep = dynamo::endpoint_id::parse(text)) {
    DYNAMO_FUZZ_CHECK(dynamo::is_valid_name(ep->ns) && dynamo::is_valid_name(ep->component)
                        && dynamo::is_valid_name(ep->endpoint),
                      "endpoint parts are valid names");
    auto again = dynamo::endpoint_id::parse(ep->to_string());
    DYNAMO_FUZZ_CHECK(again && *again == *ep, "endpoint id round trip");
  }
  using dynamo::nats::detail::from_kv_key;
  using dynamo::nats::detail::to_kv_key;
  auto record_key = from_kv_key(text);
  DYNAMO_FUZZ_CHECK(record_key.size() == text.size(), "key mapping keeps the length");
  if (text.find('/') == std::string_view::npos)
    DYNAMO_FUZZ_CHECK(to_kv_key(record_key) == text, "KV keys without '/' map back unchanged");
  return 0;
}
