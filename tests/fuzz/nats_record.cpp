// Fuzz target: discovery records as a NATS KV watcher reads them from the bucket
// (dynamo::nats::detail::decode_record), then the registration metadata they carry. What
// decodes must be a valid record that survives encode -> decode unchanged.
#include "dynamo/fuzz/check.hpp"
#include "dynamo/nats/internal/record_codec.hpp"
#include "dynamo/plane/registration.hpp"

#include <cstddef>
#include <cstdint>

namespace {

bool same(const dynamo::nats::detail::stored_record& a,
          const dynamo::nats::detail::stored_record& b) {
  return a.record == b.record && a.ttl == b.ttl && a.lease_tag == b.lease_tag && a.beat == b.beat;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dynamo::nats::detail;
  auto rec = decode_record(dynamo::fuzz::as_text(data, size));
  if (!rec)
    return 0;
  DYNAMO_FUZZ_CHECK(!dynamo::validate_record(rec->record), "a decoded record must be valid");
  DYNAMO_FUZZ_CHECK(rec->ttl >= dynamo::min_lease_ttl, "a decoded ttl is at least 100 ms");
  auto again = decode_record(encode_record(*rec));
  DYNAMO_FUZZ_CHECK(again, "encode_record output must decode");
  DYNAMO_FUZZ_CHECK(same(*again, *rec), "decode(encode(x)) == x");
  auto key = rec->record.key();
  DYNAMO_FUZZ_CHECK(from_kv_key(to_kv_key(key)) == key, "KV key mapping is a bijection");
  // What a peer does next with the record: decode its registration.
  if (auto reg = dynamo::instance_registration::from_metadata(rec->record.metadata)) {
    auto back = dynamo::instance_registration::from_metadata(reg->to_metadata());
    DYNAMO_FUZZ_CHECK(back && *back == *reg, "registration survives to/from metadata");
  }
  return 0;
}
