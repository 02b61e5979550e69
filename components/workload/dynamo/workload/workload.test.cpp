#include "dynamo/workload/workload.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

namespace dynamo::workload {
namespace {

using ::testing::HasSubstr;

workload sample() {
  workload w;
  w.name = "w";
  w.requests = {{0, 0.0, 0, 0, {1, 2}, 4}, {1, 0.5, 3, 0, {1}, 4}, {2, 1.0, 3, 1, {1, 2}, 4},
                {3, 0.2, 8, 0, {5}, 1}};
  return w;
}

std::string failure(const workload& w) {
  auto err = validate(w);
  if (!err) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  EXPECT_EQ(classify(err), errc::invalid_request);
  return client_message(err);
}

TEST(workload, a_well_formed_workload_validates) {
  EXPECT_FALSE(validate(sample()));
  EXPECT_FALSE(validate(workload{}));
  EXPECT_EQ(session_count(sample()), 2u);
}

TEST(workload, validate_names_the_request_and_field) {
  auto w = sample();
  w.requests[1].id = 7;
  EXPECT_THAT(failure(w), HasSubstr("request 7: field 'id'"));
  w = sample();
  w.requests[2].prompt.clear();
  EXPECT_THAT(failure(w), HasSubstr("request 2: field 'prompt' is empty"));
  w = sample();
  w.requests[0].max_tokens = 0;
  EXPECT_THAT(failure(w), HasSubstr("field 'max_tokens'"));
  w = sample();
  w.requests[0].at_s = -1;
  EXPECT_THAT(failure(w), HasSubstr("field 'at_s'"));
  w.requests[0].at_s = std::numeric_limits<double>::infinity();
  EXPECT_THAT(failure(w), HasSubstr("field 'at_s'"));
  w = sample();
  w.requests[2].turn = 2;
  EXPECT_THAT(failure(w), HasSubstr("session 3 expects turn 1"));
  w = sample();
  w.requests[0].turn = 1;
  EXPECT_THAT(failure(w), HasSubstr("standalone request has turn 0"));
}

} // namespace
} // namespace dynamo::workload
