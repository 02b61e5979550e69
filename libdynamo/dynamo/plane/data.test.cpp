#include "dynamo/plane/data.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace dynamo {
namespace {

using blocks = std::vector<block_copy>;

TEST(coalesce, empty_and_single_lists_are_unchanged) {
  EXPECT_EQ(coalesce({}), blocks{});
  EXPECT_EQ(coalesce({{1, 2, 3}}), (blocks{{1, 2, 3}}));
}

TEST(coalesce, merges_blocks_contiguous_on_both_sides) {
  EXPECT_EQ(coalesce({{0, 100, 10}, {10, 110, 5}, {15, 115, 1}}), (blocks{{0, 100, 16}}));
}

TEST(coalesce, keeps_blocks_contiguous_on_one_side_only) {
  EXPECT_EQ(coalesce({{0, 100, 10}, {10, 200, 10}}), (blocks{{0, 100, 10}, {10, 200, 10}}));
  EXPECT_EQ(coalesce({{0, 100, 10}, {50, 110, 10}}), (blocks{{0, 100, 10}, {50, 110, 10}}));
}

TEST(coalesce, keeps_order_and_merges_only_neighbours_in_the_list) {
  EXPECT_EQ(coalesce({{10, 10, 10}, {0, 0, 10}}), (blocks{{10, 10, 10}, {0, 0, 10}}))
    << "a block that precedes its predecessor is not merged";
  EXPECT_EQ(coalesce({{0, 0, 4}, {4, 4, 4}, {100, 100, 4}, {104, 104, 4}, {50, 50, 1}}),
            (blocks{{0, 0, 8}, {100, 100, 8}, {50, 50, 1}}));
}

TEST(coalesce, never_merges_across_a_wrap_around) {
  EXPECT_EQ(coalesce({{UINT64_MAX - 1, 0, 4}, {2, 4, 4}}),
            (blocks{{UINT64_MAX - 1, 0, 4}, {2, 4, 4}}));
}

errc check(transfer_direction dir, const blocks& b, uint64_t local = 100, uint64_t remote = 200) {
  return classify(validate_blocks(dir, b, local, remote));
}

TEST(validate_blocks, accepts_in_bounds_disjoint_blocks) {
  using enum transfer_direction;
  EXPECT_EQ(check(read, {}), errc::none);
  EXPECT_EQ(check(read, {{0, 0, 100}}), errc::none);
  EXPECT_EQ(check(write, {{0, 100, 50}, {50, 150, 50}}), errc::none);
  EXPECT_EQ(check(read, {{0, 0, 10}, {10, 0, 10}}), errc::none) << "sources may overlap";
  EXPECT_EQ(check(write, {{0, 0, 10}, {0, 10, 10}}), errc::none) << "sources may overlap";
}

TEST(validate_blocks, rejects_zero_length_and_out_of_bounds_blocks) {
  using enum transfer_direction;
  EXPECT_EQ(check(read, {{0, 0, 0}}), errc::invalid_request);
  EXPECT_EQ(check(read, {{0, 0, 101}}), errc::invalid_request);
  EXPECT_EQ(check(read, {{101, 0, 1}}), errc::invalid_request);
  EXPECT_EQ(check(read, {{0, 150, 51}}), errc::invalid_request);
  EXPECT_EQ(check(read, {{UINT64_MAX, 0, 2}}), errc::invalid_request);
  EXPECT_EQ(check(read, {{1, 0, UINT64_MAX}}), errc::invalid_request);
}

TEST(validate_blocks, rejects_overlap_at_the_destination) {
  using enum transfer_direction;
  EXPECT_EQ(check(read, {{0, 0, 10}, {9, 20, 10}}), errc::invalid_request);
  EXPECT_EQ(check(read, {{50, 0, 10}, {0, 20, 51}}), errc::invalid_request)
    << "unsorted lists are checked too";
  EXPECT_EQ(check(write, {{0, 0, 10}, {20, 5, 10}}), errc::invalid_request);
  EXPECT_EQ(check(write, {{0, 0, 10}, {0, 10, 10}}), errc::none);
}

TEST(validate_blocks, names_the_offending_block) {
  auto err = validate_blocks(transfer_direction::read, {{0, 0, 1}, {0, 0, 0}}, 10, 10);
  EXPECT_NE(client_message(err).find("block 1"), std::string::npos) << client_message(err);
}

} // namespace
} // namespace dynamo
