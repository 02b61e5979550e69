#include "dynamo/workload/prompt_builder.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace dynamo::workload {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

TEST(block_tokens, is_a_pure_function_of_salt_and_hash_id) {
  auto a = block_tokens(5, 64);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, block_tokens(5, 64));
  EXPECT_NE(a, block_tokens(6, 64));
  EXPECT_NE(a, block_tokens(5, 64, {}, 1));
  EXPECT_EQ(block_tokens(5, 64, {}, 1), block_tokens(5, 64, {}, 1));
}

TEST(block_tokens, a_partial_block_is_a_prefix_of_the_full_one) {
  auto full = block_tokens(77, 512);
  auto part = block_tokens(77, 100);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), full.begin()));
  std::vector<uint32_t> appended{1, 2};
  append_block_tokens(appended, 77, 3, {}, 0);
  EXPECT_THAT(appended, ElementsAreArray({1u, 2u, full[0], full[1], full[2]}));
}

TEST(block_tokens, ids_are_uniform_in_the_range) {
  token_range range{10, 20};
  std::vector<int> seen(20, 0);
  for (uint64_t h = 0; h < 200; ++h)
    for (auto t : block_tokens(h, 50, range)) {
      ASSERT_GE(t, 10u);
      ASSERT_LT(t, 20u);
      ++seen[t];
    }
  for (uint32_t t = 10; t < 20; ++t) {
    EXPECT_GT(seen[t], 850) << t;
    EXPECT_LT(seen[t], 1150) << t;
  }
  for (auto t : block_tokens(1, 1000)) {
    ASSERT_GE(t, 3u);
    ASSERT_LT(t, 256u);
  }
  for (auto t : block_tokens(1, 10, {5, 5}))
    EXPECT_EQ(t, 5u);
}

TEST(block_tokens, different_ids_give_distinct_blocks) {
  std::set<std::vector<uint32_t>> blocks;
  for (uint64_t h = 0; h < 2000; ++h)
    blocks.insert(block_tokens(h, 16));
  EXPECT_EQ(blocks.size(), 2000u);
}

TEST(build_prompt, concatenates_blocks_with_a_partial_last_one) {
  prompt_layout layout{4, {100, 200}, 9};
  std::vector<uint64_t> ids{3, 1, 4};
  auto prompt = build_prompt(ids, 10, layout);
  ASSERT_TRUE(prompt) << describe(prompt.error());
  std::vector<uint32_t> expected;
  for (auto id : {3, 1})
    append_block_tokens(expected, id, 4, layout.tokens, layout.salt);
  append_block_tokens(expected, 4, 2, layout.tokens, layout.salt);
  EXPECT_EQ(*prompt, expected);
  auto full = build_prompt(ids, 12, layout);
  ASSERT_TRUE(full);
  EXPECT_TRUE(std::equal(prompt->begin(), prompt->end(), full->begin()));
}

TEST(build_prompt, shared_ids_share_tokens) {
  prompt_layout layout{8};
  std::vector<uint64_t> a{0, 1, 2};
  std::vector<uint64_t> b{0, 1, 9};
  auto pa = build_prompt(a, 24, layout);
  auto pb = build_prompt(b, 20, layout);
  ASSERT_TRUE(pa && pb);
  auto [ia, ib] = std::mismatch(pa->begin(), pa->end(), pb->begin(), pb->end());
  EXPECT_GE(ia - pa->begin(), 16);
  EXPECT_LT(ia - pa->begin(), 20);
}

TEST(build_prompt, rejects_lengths_that_do_not_match_the_ids) {
  prompt_layout layout{4};
  std::vector<uint64_t> ids{1, 2};
  for (uint32_t bad_length : {0u, 4u, 9u}) {
    auto prompt = build_prompt(ids, bad_length, layout);
    ASSERT_FALSE(prompt) << bad_length;
    EXPECT_EQ(classify(prompt.error()), errc::invalid_request);
    EXPECT_THAT(client_message(prompt.error()), HasSubstr("2 hash ids"));
  }
  EXPECT_FALSE(build_prompt({}, 1, layout));
  EXPECT_TRUE(build_prompt(ids, 5, layout));
  EXPECT_TRUE(build_prompt(ids, 8, layout));
}

TEST(build_prompt, rejects_bad_layouts) {
  std::vector<uint64_t> ids{1};
  auto zero = build_prompt(ids, 1, prompt_layout{0});
  ASSERT_FALSE(zero);
  EXPECT_THAT(client_message(zero.error()), HasSubstr("block_size"));
  auto empty_range = build_prompt(ids, 1, prompt_layout{4, {7, 7}});
  ASSERT_FALSE(empty_range);
  EXPECT_THAT(client_message(empty_range.error()), HasSubstr("tokens"));
}

TEST(token_range, parses_and_validates) {
  auto r = parse_token_range("3-258");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (token_range{3, 258}));
  EXPECT_EQ(*parse_token_range("0,4294967295"), (token_range{0, 4294967295u}));
  for (auto bad : {"", "5", "9-9", "10-2", "a-b", "-1-5", "1-4294967296", "1-2x"}) {
    auto x = parse_token_range(bad);
    ASSERT_FALSE(x) << bad;
    EXPECT_EQ(classify(x.error()), errc::invalid_request) << bad;
  }
}

TEST(blocks_for, rounds_up) {
  EXPECT_EQ(blocks_for(0, 512), 0u);
  EXPECT_EQ(blocks_for(1, 512), 1u);
  EXPECT_EQ(blocks_for(512, 512), 1u);
  EXPECT_EQ(blocks_for(513, 512), 2u);
  EXPECT_EQ(blocks_for(5, 0), 0u);
}

} // namespace
} // namespace dynamo::workload
