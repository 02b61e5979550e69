#include "dynamo/nats/internal/record_codec.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

namespace dynamo::nats::detail {
namespace {

using namespace std::chrono_literals;

stored_record sample() {
  stored_record x;
  x.record = {component_id{"ns", "worker"}, instance_id{0xabc}, {{"endpoint", "gen"}, {"k", "v"}}};
  x.ttl = 500ms;
  x.lease_tag = "00000000000000ff-3";
  x.beat = 7;
  return x;
}

TEST(record_codec, round_trips) {
  auto x = sample();
  auto y = decode_record(encode_record(x));
  ASSERT_TRUE(y) << describe(y.error());
  EXPECT_EQ(y->record, x.record);
  EXPECT_EQ(y->ttl, x.ttl);
  EXPECT_EQ(y->lease_tag, x.lease_tag);
  EXPECT_EQ(y->beat, x.beat);
}

TEST(record_codec, malformed_bytes_are_invalid_request) {
  auto good = encode_record(sample());
  std::vector<std::string> bad{
    "",
    "not json",
    "[]",
    good.substr(0, good.size() / 2),
    R"({"v":2,"ns":"ns","component":"w","instance":"0000000000000001","metadata":{},"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"n/s","component":"w","instance":"0000000000000001","metadata":{},"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000000","metadata":{},"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"zz","metadata":{},"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000001","metadata":{"":"x"},"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000001","metadata":{"a":1},"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000001","metadata":[],"ttl_ms":500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000001","metadata":{},"ttl_ms":5,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000001","metadata":{},"ttl_ms":-500,"lease":"x","beat":1})",
    R"({"v":1,"ns":"ns","component":"w","instance":"0000000000000001","metadata":{},"ttl_ms":500,"beat":1})",
  };
  for (const auto& bytes : bad) {
    auto y = decode_record(bytes);
    ASSERT_FALSE(y) << "accepted: " << bytes;
    EXPECT_EQ(classify(y.error()), errc::invalid_request) << bytes;
  }
}

TEST(record_codec, keys_map_slashes_to_dots_and_back) {
  EXPECT_EQ(to_kv_key("ns/worker/0000000000000abc"), "ns.worker.0000000000000abc");
  EXPECT_EQ(from_kv_key("ns.worker.0000000000000abc"), "ns/worker/0000000000000abc");
}

} // namespace
} // namespace dynamo::nats::detail
