#include "dynamo/plane/data.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

region_descriptor sample_descriptor(std::string key) {
  return region_descriptor{"decode/00ab", 7, 1 << 20, std::move(key)};
}

TEST(descriptor_codec, round_trips_binary_keys_of_every_length) {
  std::string key;
  for (int len = 0; len < 40; ++len) {
    auto d = sample_descriptor(key);
    auto line = encode_descriptor(d);
    EXPECT_EQ(line.find_first_of(" \n\r\t"), std::string::npos) << line;
    auto back = decode_descriptor(line);
    ASSERT_TRUE(back) << describe(back.error());
    EXPECT_EQ(*back, d) << "key length " << len;
    key += static_cast<char>(len * 37 % 256);
  }
}

TEST(descriptor_codec, round_trips_extreme_numbers_and_odd_agent_names) {
  region_descriptor d{"a:b/c d\xff", UINT64_MAX, UINT64_MAX, std::string("\0\1:", 3)};
  auto back = decode_descriptor(encode_descriptor(d));
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(*back, d);
}

TEST(descriptor_codec, rejects_malformed_lines) {
  auto good = encode_descriptor(sample_descriptor("key"));
  ASSERT_TRUE(decode_descriptor(good));
  auto fields = [](std::string agent, std::string id, std::string size, std::string key) {
    return "dynreg1:" + agent + ":" + id + ":" + size + ":" + key;
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
    {"", "empty"},
    {"dynreg1", "one field"},
    {good + ":x", "six fields"},
    {"dynreg2" + good.substr(7), "wrong prefix"},
    {fields("", "1", "2", ""), "empty agent"},
    {fields("YQ", "1", "2", ""), "unpadded base64"},
    {fields("YR==", "1", "2", ""), "non-canonical trailing bits"},
    {fields("Y===", "1", "2", ""), "three padding characters"},
    {fields("YQ==YQ==", "1", "2", ""), "padding inside"},
    {fields("Y Q=", "1", "2", ""), "space in base64"},
    {fields("YQ==", "", "2", ""), "empty id"},
    {fields("YQ==", "-1", "2", ""), "negative id"},
    {fields("YQ==", "01", "2", ""), "leading zero"},
    {fields("YQ==", "18446744073709551616", "2", ""), "id overflows"},
    {fields("YQ==", "1", "0", ""), "zero size"},
    {fields("YQ==", "1", "2x", ""), "trailing garbage in size"},
    {fields("YQ==", "1", "2", "@@@@"), "key not base64"},
  };
  for (const auto& [line, what] : bad) {
    auto r = decode_descriptor(line);
    ASSERT_FALSE(r) << what << " was accepted: " << line;
    EXPECT_EQ(classify(r.error()), errc::invalid_request) << what;
  }
}

} // namespace
} // namespace dynamo
