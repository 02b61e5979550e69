#include "dynamo/plane/discovery.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

namespace dynamo {
namespace {

discovery_record make_record() {
  return discovery_record{component_id{"prod", "decode"}, instance_id{0x1f}, {{"endpoint", "x"}}};
}

TEST(discovery_record, key_is_namespace_component_and_16_hex_digits) {
  EXPECT_EQ(make_record().key(), "prod/decode/000000000000001f");
  EXPECT_EQ(discovery_prefix(component_id{"prod", "decode"}), "prod/decode/");
  EXPECT_TRUE(make_record().key().starts_with(discovery_prefix(make_record().component)));
}

TEST(validate_record, accepts_a_well_formed_record) {
  EXPECT_EQ(classify(validate_record(make_record())), errc::none);
}

TEST(validate_record, rejects_bad_names_instance_zero_and_empty_metadata_keys) {
  auto rec = make_record();
  rec.component.ns = "";
  EXPECT_EQ(classify(validate_record(rec)), errc::invalid_request);
  rec = make_record();
  rec.component.component = "de/code";
  EXPECT_EQ(classify(validate_record(rec)), errc::invalid_request);
  rec = make_record();
  rec.instance = instance_id{0};
  EXPECT_EQ(classify(validate_record(rec)), errc::invalid_request);
  rec = make_record();
  rec.metadata[""] = "v";
  EXPECT_EQ(classify(validate_record(rec)), errc::invalid_request);
}

} // namespace
} // namespace dynamo
