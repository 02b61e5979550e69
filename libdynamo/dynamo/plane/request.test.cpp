#include "dynamo/plane/request.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

namespace dynamo {
namespace {

TEST(validate_address, accepts_valid_names_and_a_non_zero_instance) {
  instance_endpoint addr{endpoint_id{"ns", "comp", "generate"}, instance_id{7}};
  EXPECT_EQ(classify(validate_address(addr)), errc::none);
}

TEST(validate_address, rejects_bad_names_and_instance_zero) {
  EXPECT_EQ(classify(validate_address({endpoint_id{"", "comp", "ep"}, instance_id{1}})),
            errc::invalid_request);
  EXPECT_EQ(classify(validate_address({endpoint_id{"ns", "c.d", "ep"}, instance_id{1}})),
            errc::invalid_request);
  EXPECT_EQ(classify(validate_address({endpoint_id{"ns", "comp", "e p"}, instance_id{1}})),
            errc::invalid_request);
  EXPECT_EQ(classify(validate_address({endpoint_id{"ns", "comp", "ep"}, instance_id{0}})),
            errc::invalid_request);
}

} // namespace
} // namespace dynamo
