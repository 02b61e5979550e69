#include "dynamo/kv_router/event_codec.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace dynamo::kv_router {
namespace {

using engine::kv_event;
using ::testing::HasSubstr;

constexpr uint64_t u64_max = std::numeric_limits<uint64_t>::max();

kv_event stored(uint64_t id, std::vector<uint64_t> blocks, std::vector<uint64_t> tokens,
                std::optional<uint64_t> parent) {
  kv_event ev;
  ev.event_id = id;
  ev.type = kv_event::kind::stored;
  ev.block_hashes = std::move(blocks);
  ev.token_hashes = std::move(tokens);
  ev.parent_hash = parent;
  return ev;
}

kv_event removed(uint64_t id, std::vector<uint64_t> blocks) {
  kv_event ev;
  ev.event_id = id;
  ev.type = kv_event::kind::removed;
  ev.block_hashes = std::move(blocks);
  return ev;
}

kv_event cleared(uint64_t id) {
  kv_event ev;
  ev.event_id = id;
  ev.type = kv_event::kind::cleared;
  return ev;
}

event_batch sample_batch() {
  event_batch b;
  b.worker = 0x0123456789abcdefu;
  b.block_size = 16;
  b.tier = storage_tier::host;
  b.events = {stored(1, {11, 12, u64_max}, {1, 2, 3}, std::nullopt),
              stored(2, {21}, {4}, 12),
              stored(3, {31, 32}, {}, u64_max),
              removed(4, {11, 21}),
              cleared(5),
              removed(u64_max, {})};
  return b;
}

void expect_same(const event_batch& got, const event_batch& want) {
  EXPECT_EQ(got.worker, want.worker);
  EXPECT_EQ(got.block_size, want.block_size);
  EXPECT_EQ(got.tier, want.tier);
  ASSERT_EQ(got.events.size(), want.events.size());
  for (size_t i = 0; i < got.events.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "event " << i);
    EXPECT_EQ(got.events[i].event_id, want.events[i].event_id);
    EXPECT_EQ(got.events[i].type, want.events[i].type);
    EXPECT_EQ(got.events[i].block_hashes, want.events[i].block_hashes);
    EXPECT_EQ(got.events[i].token_hashes, want.events[i].token_hashes);
    EXPECT_EQ(got.events[i].parent_hash, want.events[i].parent_hash);
  }
}

/// Decodes `text`, expecting invalid_request whose message names `field`.
void expect_rejected(const std::string& text, const std::string& field) {
  SCOPED_TRACE(text);
  auto got = decode_batch(text);
  ASSERT_FALSE(got) << "malformed input must be rejected";
  EXPECT_EQ(classify(got.error()), errc::invalid_request) << describe(got.error());
  EXPECT_THAT(client_message(got.error()), HasSubstr(field));
}

/// A batch document around `events` (JSON text of the array).
std::string with_events(const std::string& events) {
  return R"({"worker_id":7,"block_size":16,"storage_tier":"device","events":)" + events + "}";
}

TEST(event_codec, every_field_survives_a_round_trip) {
  auto batch = sample_batch();
  auto got = decode_batch(encode_batch(batch));
  ASSERT_TRUE(got) << describe(got.error());
  expect_same(*got, batch);
}

TEST(event_codec, every_tier_and_an_empty_batch_round_trip) {
  for (auto tier : {storage_tier::device, storage_tier::host, storage_tier::disk,
                    storage_tier::remote}) {
    event_batch b;
    b.worker = 1;
    b.block_size = 1;
    b.tier = tier;
    auto got = decode_batch(encode_batch(b));
    ASSERT_TRUE(got) << describe(got.error());
    expect_same(*got, b);
  }
}

TEST(event_codec, a_snapshot_has_every_id_zero) {
  event_batch b;
  b.worker = 3;
  b.block_size = 32;
  b.events = {stored(0, {1, 2}, {5, 6}, std::nullopt), stored(0, {3}, {7}, 1)};
  auto got = decode_batch(encode_batch(b));
  ASSERT_TRUE(got) << describe(got.error());
  expect_same(*got, b);
}

TEST(event_codec, writes_the_documented_anchor_shape) {
  auto doc = nlohmann::json::parse(encode_batch(sample_batch()));
  EXPECT_EQ(doc["worker_id"].get<uint64_t>(), 0x0123456789abcdefu);
  EXPECT_EQ(doc["block_size"].get<uint32_t>(), 16u);
  EXPECT_EQ(doc["storage_tier"], "host");
  const auto& events = doc["events"];
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0]["event_id"].get<uint64_t>(), 1u);
  EXPECT_TRUE(events[0]["data"]["stored"]["parent_hash"].is_null());
  EXPECT_EQ(events[0]["data"]["stored"]["blocks"][2]["block_hash"].get<uint64_t>(), u64_max);
  EXPECT_EQ(events[0]["data"]["stored"]["blocks"][2]["tokens_hash"].get<uint64_t>(), 3u);
  EXPECT_EQ(events[1]["data"]["stored"]["parent_hash"].get<uint64_t>(), 12u);
  EXPECT_FALSE(events[2]["data"]["stored"]["blocks"][0].contains("tokens_hash"))
    << "blocks without local hashes leave tokens_hash out";
  EXPECT_EQ(events[3]["data"]["removed"]["block_hashes"],
            nlohmann::json::array({11u, 21u}));
  EXPECT_EQ(events[4]["data"], "cleared");
}

TEST(event_codec, token_hashes_that_do_not_parallel_the_blocks_are_left_out) {
  event_batch b;
  b.block_size = 4;
  b.events = {stored(1, {1, 2}, {9}, std::nullopt)};
  auto got = decode_batch(encode_batch(b));
  ASSERT_TRUE(got) << describe(got.error());
  ASSERT_EQ(got->events.size(), 1u);
  EXPECT_EQ(got->events[0].block_hashes, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(got->events[0].token_hashes.empty());
}

TEST(event_codec, reads_other_writers_layouts) {
  // Reordered keys, whitespace, an absent parent, unknown keys (the anchor's dp_rank).
  auto text = R"( { "events" : [
      {"data": {"stored": {"blocks": [{"tokens_hash": 2, "block_hash": 1, "x": [1]}]}},
       "dp_rank": 0, "event_id": 4},
      {"event_id": 9, "data": {"removed": {"block_hashes": []}}} ],
    "storage_tier": "disk", "block_size": 64, "worker_id": 18446744073709551615,
    "future": {"nested": true} } )";
  auto got = decode_batch(text);
  ASSERT_TRUE(got) << describe(got.error());
  EXPECT_EQ(got->worker, u64_max);
  EXPECT_EQ(got->block_size, 64u);
  EXPECT_EQ(got->tier, storage_tier::disk);
  ASSERT_EQ(got->events.size(), 2u);
  EXPECT_EQ(got->events[0].event_id, 4u);
  EXPECT_FALSE(got->events[0].parent_hash);
  EXPECT_EQ(got->events[0].block_hashes, (std::vector<uint64_t>{1}));
  EXPECT_EQ(got->events[0].token_hashes, (std::vector<uint64_t>{2}));
  EXPECT_EQ(got->events[1].type, kv_event::kind::removed);
}

TEST(event_codec, rejects_malformed_batches_naming_the_field) {
  const std::vector<std::pair<std::string, std::string>> cases = {
    {"", "not JSON"},
    {"{", "not JSON"},
    {"nul", "not JSON"},
    {R"({"worker_id":1,"block_size":16,"storage_tier":"device","events":[]} trailing)",
     "not JSON"},
    {R"({"worker_id":1,"worker_id":2,"block_size":16,"storage_tier":"device","events":[]})",
     "worker_id: duplicate"},
    {with_events(R"([{"event_id":1,"event_id":2,"data":"cleared"}])"), "events[0].event_id"},
    {"[]", "batch"},
    {"42", "batch"},
    {R"({"block_size":16,"storage_tier":"device","events":[]})", "worker_id"},
    {R"({"worker_id":-1,"block_size":16,"storage_tier":"device","events":[]})", "worker_id"},
    {R"({"worker_id":1.5,"block_size":16,"storage_tier":"device","events":[]})", "worker_id"},
    {R"({"worker_id":"7","block_size":16,"storage_tier":"device","events":[]})", "worker_id"},
    {R"({"worker_id":18446744073709551616,"block_size":16,"storage_tier":"device",)"
     R"("events":[]})", "worker_id"},
    {R"({"worker_id":1,"storage_tier":"device","events":[]})", "block_size"},
    {R"({"worker_id":1,"block_size":0,"storage_tier":"device","events":[]})", "block_size"},
    {R"({"worker_id":1,"block_size":4294967296,"storage_tier":"device","events":[]})",
     "block_size"},
    {R"({"worker_id":1,"block_size":16,"events":[]})", "storage_tier"},
    {R"({"worker_id":1,"block_size":16,"storage_tier":"gpu","events":[]})", "storage_tier"},
    {R"({"worker_id":1,"block_size":16,"storage_tier":0,"events":[]})", "storage_tier"},
    {R"({"worker_id":1,"block_size":16,"storage_tier":"device"})", "events"},
    {R"({"worker_id":1,"block_size":16,"storage_tier":"device","events":{}})", "events"},
    {with_events("[1]"), "events[0]"},
    {with_events(R"([{"data":"cleared"}])"), "events[0].event_id"},
    {with_events(R"([{"event_id":true,"data":"cleared"}])"), "events[0].event_id"},
    {with_events(R"([{"event_id":1}])"), "events[0].data"},
    {with_events(R"([{"event_id":1,"data":"purged"}])"), "events[0].data"},
    {with_events(R"([{"event_id":1,"data":{}}])"), "events[0].data"},
    {with_events(R"([{"event_id":1,"data":{"moved":{}}}])"), "events[0].data"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":[]},"removed":{}}}])"),
     "events[0].data"},
    {with_events(R"([{"event_id":1,"data":null}])"), "events[0].data"},
    {with_events(R"([{"event_id":1,"data":{"stored":[]}}])"), "events[0].data.stored"},
    {with_events(R"([{"event_id":1,"data":{"stored":{}}}])"), "events[0].data.stored.blocks"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":{}}}}])"),
     "events[0].data.stored.blocks"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":[7]}}}])"),
     "events[0].data.stored.blocks[0]"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":[{}]}}}])"),
     "events[0].data.stored.blocks[0].block_hash"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":[{"block_hash":-3}]}}}])"),
     "events[0].data.stored.blocks[0].block_hash"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"parent_hash":"x","blocks":[]}}}])"),
     "events[0].data.stored.parent_hash"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":)"
                 R"([{"block_hash":1,"tokens_hash":2},{"block_hash":3}]}}}])"),
     "events[0].data.stored.blocks[1].tokens_hash"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":)"
                 R"([{"block_hash":1},{"block_hash":3,"tokens_hash":2}]}}}])"),
     "events[0].data.stored.blocks[1].tokens_hash"},
    {with_events(R"([{"event_id":1,"data":{"stored":{"blocks":)"
                 R"([{"block_hash":1,"tokens_hash":null}]}}}])"),
     "events[0].data.stored.blocks[0].tokens_hash"},
    {with_events(R"([{"event_id":1,"data":{"removed":{}}}])"),
     "events[0].data.removed.block_hashes"},
    {with_events(R"([{"event_id":1,"data":{"removed":{"block_hashes":7}}}])"),
     "events[0].data.removed.block_hashes"},
    {with_events(R"([{"event_id":1,"data":{"removed":{"block_hashes":[1,2.5]}}}])"),
     "events[0].data.removed.block_hashes[1]"},
    {with_events(R"([{"event_id":2,"data":"cleared"},{"event_id":2,"data":"cleared"}])"),
     "events[1].event_id"},
    {with_events(R"([{"event_id":5,"data":"cleared"},{"event_id":3,"data":"cleared"}])"),
     "events[1].event_id"},
    {with_events(R"([{"event_id":0,"data":"cleared"},{"event_id":1,"data":"cleared"}])"),
     "events[1].event_id"},
    {with_events(R"([{"event_id":1,"data":"cleared"},{"event_id":0,"data":"cleared"}])"),
     "events[1].event_id"},
  };
  for (const auto& [text, field] : cases)
    expect_rejected(text, field);
}

TEST(event_codec, rejects_more_events_than_a_batch_may_carry) {
  auto events = with_events(R"([{"event_id":1,"data":"cleared"},{"event_id":2,"data":"cleared"},)"
                            R"({"event_id":3,"data":"cleared"}])");
  ASSERT_TRUE(decode_batch(events, 3)) << "exactly the limit is fine";
  auto got = decode_batch(events, 2);
  ASSERT_FALSE(got) << "one event more than the limit must be refused";
  EXPECT_EQ(classify(got.error()), errc::invalid_request);
  EXPECT_THAT(client_message(got.error()), HasSubstr("limit of 2"));
  EXPECT_TRUE(decode_batch(events)) << "the default limit is max_events_per_batch";
  static_assert(max_events_per_batch == size_t{1} << 20);
}

TEST(event_codec, truncated_input_is_rejected_at_every_length) {
  auto text = encode_batch(sample_batch());
  for (size_t n = 0; n < text.size(); ++n) {
    auto got = decode_batch(std::string_view{text}.substr(0, n));
    ASSERT_FALSE(got) << "a prefix of " << n << " bytes must not decode";
    EXPECT_EQ(classify(got.error()), errc::invalid_request);
  }
}

TEST(event_codec, garbled_input_never_crashes) {
  auto text = encode_batch(sample_batch());
  const std::string alphabet = "{}[]\",:0123456789-.eE truefalsnul\\\x01\xff";
  std::mt19937_64 rng{20240521};
  size_t decoded = 0;
  for (int round = 0; round < 3000; ++round) {
    auto garbled = text;
    for (auto edits = 1 + rng() % 4; edits > 0; --edits) {
      auto pos = rng() % garbled.size();
      switch (rng() % 3) {
        case 0:
          garbled[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          garbled.erase(pos, 1 + rng() % 8);
          break;
        default:
          garbled.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
      if (garbled.empty())
        garbled = "{";
    }
    auto got = decode_batch(garbled);
    if (got) {
      ++decoded;
      for (size_t i = 1; i < got->events.size(); ++i) {
        if (got->events[i - 1].event_id != 0) {
          EXPECT_LT(got->events[i - 1].event_id, got->events[i].event_id) << garbled;
        }
      }
    } else {
      EXPECT_EQ(classify(got.error()), errc::invalid_request) << garbled;
    }
  }
  EXPECT_LT(decoded, 3000u) << "garbling must break most documents";
}

TEST(event_codec, deeply_nested_input_is_rejected_without_exhausting_the_stack) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto got = decode_batch(deep);
  ASSERT_FALSE(got);
  EXPECT_EQ(classify(got.error()), errc::invalid_request);
  EXPECT_FALSE(decode_batch(with_events("[{\"event_id\":1,\"data\":{\"stored\":{\"blocks\":"
                                        + deep + "}}}]")));
  // An unknown member is skipped however deep it nests.
  auto skipped = decode_batch(R"({"worker_id":1,"block_size":2,"storage_tier":"device",)"
                              R"("events":[],"future":)" + deep + "}");
  ASSERT_TRUE(skipped) << describe(skipped.error());
  EXPECT_EQ(skipped->block_size, 2u);
}

} // namespace
} // namespace dynamo::kv_router
