// Entry point of dynamo_http_tests. The build links no gtest main today; this one is weak so
// that a shared test main added to dynamo_testing or GTest::gtest_main later takes precedence.
#include <gtest/gtest.h>

__attribute__((weak)) int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
