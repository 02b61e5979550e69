// The mocker implements split prefill/decode through the shared scheduler.
#include "dynamo/mocker/mocker_engine.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace dynamo::mocker {
namespace {

using engine::finish_reason;
using engine::sequence_request;
using engine::token_id;

mocker_config split_config() {
  mocker_config cfg;
  cfg.block_size = 16;
  cfg.total_kv_blocks = 64;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 256;
  cfg.max_model_len = 1024;
  cfg.seed = 3;
  return cfg;
}

sequence_request request(engine::request_id id, uint32_t prompt_len, uint32_t max_tokens) {
  sequence_request req;
  req.id = id;
  req.prompt.resize(prompt_len);
  std::iota(req.prompt.begin(), req.prompt.end(), token_id{1});
  req.stop.max_tokens = max_tokens;
  return req;
}

std::vector<token_id> drain(mocker_engine& eng, engine::request_id id, finish_reason& finish) {
  std::vector<token_id> out;
  for (int steps = 0; eng.has_work(); ++steps) {
    if (steps > 10000) {
      ADD_FAILURE() << "expected the mocker to drain within 10000 steps";
      break;
    }
    for (const auto& o : eng.step().outputs) {
      if (o.id != id)
        continue;
      out.insert(out.end(), o.tokens.begin(), o.tokens.end());
      finish = o.finish;
    }
  }
  return out;
}

TEST(mocker_split, split_equals_aggregated_and_frees_every_block) {
  mocker_engine aggregated{split_config(), nullptr};
  mocker_engine prefill{split_config(), nullptr};
  mocker_engine decode{split_config(), nullptr};
  ASSERT_FALSE(aggregated.admit(request(1, 40, 9)));
  finish_reason want_finish = finish_reason::none;
  const auto want = drain(aggregated, 1, want_finish);
  ASSERT_EQ(want.size(), 9u);

  auto first_req = request(1, 40, 1);
  first_req.hold_kv = true;
  ASSERT_FALSE(prefill.admit(std::move(first_req)));
  finish_reason first_finish = finish_reason::none;
  const auto first = drain(prefill, 1, first_finish);
  ASSERT_EQ(first.size(), 1u);
  auto held = prefill.held_blocks(1);
  ASSERT_TRUE(held) << describe(held.error());
  EXPECT_EQ(held->tokens, 40u);
  EXPECT_EQ(held->blocks.size(), 3u);
  EXPECT_EQ(prefill.stats().held_kv_blocks, 3u);

  auto remote = decode.admit_remote(request(1, 40, 9));
  ASSERT_TRUE(remote) << describe(remote.error());
  EXPECT_EQ(remote->blocks.size(), 3u);
  ASSERT_FALSE(decode.complete_remote(1, first.front()));
  finish_reason got_finish = finish_reason::none;
  EXPECT_EQ(drain(decode, 1, got_finish), want);
  EXPECT_EQ(got_finish, want_finish);

  EXPECT_TRUE(prefill.release_held(1));
  EXPECT_EQ(prefill.stats().active_kv_blocks, 0u);
  EXPECT_EQ(decode.stats().active_kv_blocks, 0u);
}

} // namespace
} // namespace dynamo::mocker
