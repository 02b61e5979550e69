#include "dynamo/disagg/transfer_plan.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <ostream>
#include <string>
#include <vector>

namespace dynamo {

static void PrintTo(const block_copy& x, std::ostream* os) {
  *os << "{local " << x.local_offset << ", remote " << x.remote_offset << ", length " << x.length
      << "}";
}

namespace disagg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr kv_layout small{2, 8, 100, 16};  // 2 layers x 8 blocks x 100 bytes

void expect_invalid(const caf::error& err, std::string_view fragment) {
  ASSERT_TRUE(err) << "expected an error mentioning '" << fragment << "'";
  EXPECT_EQ(classify(err), errc::invalid_request) << describe(err);
  EXPECT_THAT(client_message(err), HasSubstr(std::string{fragment}));
}

TEST(kv_layout, offsets_are_layer_major) {
  EXPECT_EQ(small.offset(0, 0), 0u);
  EXPECT_EQ(small.offset(0, 7), 700u);
  EXPECT_EQ(small.offset(1, 0), 800u);
  EXPECT_EQ(small.offset(1, 3), 1100u);
  EXPECT_EQ(small.bytes(), 1600u);
}

TEST(kv_layout, layout_of_takes_the_pool_shape) {
  std::array<std::byte, 64> memory{};
  engine::kv_pool_view pool{memory.data(), 3, 5, 4096};
  auto layout = layout_of(pool, 32);
  EXPECT_EQ(layout, (kv_layout{3, 5, 4096, 32}));
  for (uint32_t layer = 0; layer < 3; ++layer)
    for (uint32_t block = 0; block < 5; ++block)
      EXPECT_EQ(layout.offset(layer, block), pool.offset(layer, block));
  EXPECT_EQ(layout.bytes(), pool.bytes());
}

TEST(kv_layout, codec_round_trips) {
  for (auto layout : {small, kv_layout{80, 65536, uint64_t{1} << 30, 1},
                      kv_layout{4294967295u, 1, 1, 4294967295u}}) {
    auto text = encode_layout(layout);
    auto back = decode_layout(text);
    ASSERT_TRUE(back) << text << ": " << describe(back.error());
    EXPECT_EQ(*back, layout) << text;
  }
  EXPECT_EQ(encode_layout(small), "layers=2;blocks=8;region_bytes=100;block_size=16");
}

TEST(kv_layout, decode_accepts_any_field_order) {
  auto back = decode_layout("block_size=16;region_bytes=100;blocks=8;layers=2");
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(*back, small);
}

TEST(kv_layout, decode_rejects_malformed_text) {
  expect_invalid(decode_layout("").error(), "malformed");
  expect_invalid(decode_layout("layers=2;blocks=8;region_bytes=100").error(),
                 "'block_size' is missing");
  expect_invalid(decode_layout("layers=2;blocks=8;region_bytes=100;block_size=16;").error(),
                 "malformed");
  expect_invalid(decode_layout("layers=2;layers=2;blocks=8;region_bytes=100;block_size=16")
                   .error(),
                 "duplicate KV layout field 'layers'");
  expect_invalid(decode_layout("layers=2;blocks=8;region_bytes=100;block_size=16;color=red")
                   .error(),
                 "unknown KV layout field 'color'");
  expect_invalid(decode_layout("layers=0;blocks=8;region_bytes=100;block_size=16").error(),
                 "'layers' must be an integer >= 1");
  expect_invalid(decode_layout("layers=2;blocks=-8;region_bytes=100;block_size=16").error(),
                 "'blocks' must be an integer >= 1");
  expect_invalid(decode_layout("layers=2;blocks=8;region_bytes=1e3;block_size=16").error(),
                 "'region_bytes'");
  expect_invalid(decode_layout("layers=2;blocks=8;region_bytes=100;block_size= 16").error(),
                 "'block_size'");
  expect_invalid(decode_layout("layers=2;blocks=8;region_bytes=;block_size=16").error(),
                 "'region_bytes'");
  expect_invalid(decode_layout("layers=2;blocks;region_bytes=100;block_size=16").error(),
                 "malformed KV layout item 'blocks'");
  expect_invalid(decode_layout("layers=4294967296;blocks=8;region_bytes=100;block_size=16")
                   .error(),
                 "'layers' exceeds 32 bits");
  expect_invalid(
    decode_layout("layers=2;blocks=8;region_bytes=99999999999999999999;block_size=16").error(),
    "'region_bytes'");
  expect_invalid(
    decode_layout("layers=65536;blocks=65536;region_bytes=4294967296;block_size=16").error(),
    "64-bit");
}

TEST(plan_transfer, copies_each_block_of_each_layer_to_its_destination_position) {
  const kv_layout dst{2, 10, 100, 16};
  std::vector<uint32_t> src_blocks{5, 2};
  std::vector<uint32_t> dst_blocks{1, 7};
  auto plan = plan_transfer(small, src_blocks, dst, dst_blocks, 0);
  ASSERT_TRUE(plan) << describe(plan.error());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].layer, 0u);
  EXPECT_THAT((*plan)[0].copies, ElementsAre(block_copy{500, 100, 100}, block_copy{200, 700, 100}));
  EXPECT_EQ((*plan)[0].bytes, 200u);
  EXPECT_EQ((*plan)[1].layer, 1u);
  EXPECT_THAT((*plan)[1].copies,
              ElementsAre(block_copy{800 + 500, 1000 + 100, 100}, block_copy{800 + 200, 1000 + 700, 100}));
  EXPECT_EQ((*plan)[1].bytes, 200u);
}

TEST(plan_transfer, coalesces_runs_contiguous_on_both_sides) {
  // Source 1,2,3 then 6; destination 4,5,6 then 7: the first three merge, the fourth does not
  // (contiguous on the destination only).
  std::vector<uint32_t> src_blocks{1, 2, 3, 6};
  std::vector<uint32_t> dst_blocks{4, 5, 6, 7};
  auto plan = plan_transfer(small, src_blocks, small, dst_blocks, 0);
  ASSERT_TRUE(plan) << describe(plan.error());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_THAT((*plan)[0].copies, ElementsAre(block_copy{100, 400, 300}, block_copy{600, 700, 100}));
  EXPECT_EQ((*plan)[0].bytes, 400u);
  EXPECT_THAT((*plan)[1].copies,
              ElementsAre(block_copy{900, 1200, 300}, block_copy{1400, 1500, 100}));
}

TEST(plan_transfer, never_merges_across_layers) {
  // The last block of layer 0 and the first of layer 1 are adjacent in memory, but each layer
  // is its own list so that it can leave as soon as it is computed.
  std::vector<uint32_t> all{0, 1, 2, 3, 4, 5, 6, 7};
  auto plan = plan_transfer(small, all, small, all, 0);
  ASSERT_TRUE(plan) << describe(plan.error());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_THAT((*plan)[0].copies, ElementsAre(block_copy{0, 0, 800}));
  EXPECT_THAT((*plan)[1].copies, ElementsAre(block_copy{800, 800, 800}));
}

TEST(plan_transfer, skips_the_first_blocks) {
  std::vector<uint32_t> src_blocks{0, 1, 2, 3};
  std::vector<uint32_t> dst_blocks{7, 6, 4, 5};
  auto plan = plan_transfer(small, src_blocks, small, dst_blocks, 2);
  ASSERT_TRUE(plan) << describe(plan.error());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_THAT((*plan)[0].copies, ElementsAre(block_copy{200, 400, 200}));
  EXPECT_EQ((*plan)[0].bytes, 200u);
  EXPECT_THAT((*plan)[1].copies, ElementsAre(block_copy{1000, 1200, 200}));
}

TEST(plan_transfer, nothing_left_to_copy_gives_an_empty_plan) {
  std::vector<uint32_t> blocks{0, 1};
  for (size_t first : {size_t{2}, size_t{3}}) {
    auto plan = plan_transfer(small, blocks, small, blocks, first);
    ASSERT_TRUE(plan) << describe(plan.error());
    EXPECT_THAT(*plan, IsEmpty()) << "first_block " << first;
  }
  auto empty = plan_transfer(small, {}, small, {}, 0);
  ASSERT_TRUE(empty) << describe(empty.error());
  EXPECT_THAT(*empty, IsEmpty());
}

TEST(plan_transfer, pools_may_differ_in_block_count_only) {
  std::vector<uint32_t> blocks{0};
  std::vector<uint32_t> far{99};
  auto ok = plan_transfer(small, blocks, kv_layout{2, 100, 100, 16}, far, 0);
  ASSERT_TRUE(ok) << describe(ok.error());
  EXPECT_THAT((*ok)[1].copies, ElementsAre(block_copy{800, 10000 + 9900, 100}));
  expect_invalid(plan_transfer(small, blocks, kv_layout{3, 8, 100, 16}, blocks, 0).error(),
                 "layouts differ");
  expect_invalid(plan_transfer(small, blocks, kv_layout{2, 8, 128, 16}, blocks, 0).error(),
                 "layouts differ");
  expect_invalid(plan_transfer(small, blocks, kv_layout{2, 8, 100, 32}, blocks, 0).error(),
                 "layouts differ");
}

TEST(plan_transfer, rejects_tables_of_different_lengths) {
  std::vector<uint32_t> two{0, 1};
  std::vector<uint32_t> three{0, 1, 2};
  expect_invalid(plan_transfer(small, two, small, three, 0).error(),
                 "source 2 vs destination 3");
}

TEST(plan_transfer, rejects_blocks_out_of_their_pool_naming_them) {
  std::vector<uint32_t> ok{0, 1};
  std::vector<uint32_t> bad{0, 8};
  expect_invalid(plan_transfer(small, bad, small, ok, 0).error(),
                 "source block 8 at position 1");
  expect_invalid(plan_transfer(small, ok, small, bad, 0).error(),
                 "destination block 8 at position 1");
  // Indices are checked even where nothing is copied.
  expect_invalid(plan_transfer(small, bad, small, ok, 2).error(), "source block 8");
}

TEST(plan_transfer, rejects_a_destination_block_written_twice) {
  std::vector<uint32_t> src_blocks{0, 1, 2};
  std::vector<uint32_t> dst_blocks{3, 4, 3};
  expect_invalid(plan_transfer(small, src_blocks, small, dst_blocks, 0).error(),
                 "destination block 3 appears twice");
  auto skipped = plan_transfer(small, src_blocks, small, dst_blocks, 1);
  EXPECT_TRUE(skipped) << "the duplicate lies before first_block: only 4 and 3 are written";
}

TEST(plan_transfer, rejects_layouts_beyond_64_bit_offsets) {
  const kv_layout huge{65536, 65536, uint64_t{1} << 33, 16};
  std::vector<uint32_t> blocks{0};
  expect_invalid(plan_transfer(huge, blocks, huge, blocks, 0).error(), "64-bit");
}

} // namespace
} // namespace disagg
} // namespace dynamo
