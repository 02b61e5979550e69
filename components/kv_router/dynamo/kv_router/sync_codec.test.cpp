#include "dynamo/kv_router/sync_codec.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ids.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace dynamo::kv_router {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<sync_event> sample_batch() {
  const auto router = instance_id{0xfeedbeef12345678}.to_string();
  sync_event route;
  route.type = sync_event::kind::route;
  route.router = router;
  route.request = std::numeric_limits<uint64_t>::max();
  route.route.id = route.request;
  route.route.worker = 0x8000000000000001;
  route.route.prompt_hashes = {0, 1, std::numeric_limits<uint64_t>::max(), 0x1234567890abcdef};
  route.route.prompt_tokens = 70;
  route.route.prefill_tokens = 22;
  route.route.expected_output_tokens = std::numeric_limits<uint32_t>::max();
  sync_event first{sync_event::kind::prefill_done, router, 5, {}};
  sync_event done{sync_event::kind::finish, "ab", 6, {}};
  return {route, first, done};
}

/// Decodes `text`, expecting invalid_request whose detail contains `needle`.
void expect_rejected(const std::string& text, std::string_view needle) {
  auto r = decode_sync(text);
  ASSERT_FALSE(r) << "accepted: " << text;
  EXPECT_EQ(classify(r.error()), errc::invalid_request) << describe(r.error());
  EXPECT_THAT(operator_detail(r.error()), HasSubstr(std::string{needle})) << text;
}

/// One route event with `field` replaced by the raw JSON `value` (or removed when empty).
std::string route_with(const std::string& field, const std::string& value) {
  std::string fields[][2] = {{"type", R"("route")"},   {"router", R"("0a")"},
                             {"request", "7"},         {"worker", "42"},
                             {"prompt_hashes", "[1,2]"}, {"prompt_tokens", "40"},
                             {"prefill_tokens", "8"},  {"expected_output_tokens", "16"}};
  std::string out = R"({"v":1,"events":[{)";
  bool first = true;
  for (auto& [k, v] : fields) {
    if (k == field && value.empty())
      continue;
    out += (first ? "\"" : ",\"") + k + "\":" + (k == field ? value : v);
    first = false;
  }
  return out + "}]}";
}

TEST(sync_codec, round_trips_every_kind_with_full_range_numbers) {
  const auto batch = sample_batch();
  const auto text = encode_sync(batch);
  auto back = decode_sync(text);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(*back, batch);
  EXPECT_EQ((*back)[0].route.id, (*back)[0].request) << "the route's id travels as request";
  EXPECT_EQ(to_string(sync_event::kind::prefill_done), "prefill_done");
}

TEST(sync_codec, empty_batch_round_trips) {
  auto back = decode_sync(encode_sync({}));
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_THAT(*back, IsEmpty());
}

TEST(sync_codec, the_wire_format_is_stable) {
  auto back = decode_sync(route_with("", ""));
  ASSERT_TRUE(back) << describe(back.error());
  ASSERT_EQ(back->size(), 1u);
  const auto& ev = back->front();
  EXPECT_EQ(ev.type, sync_event::kind::route);
  EXPECT_EQ(ev.router, "0a");
  EXPECT_EQ(ev.request, 7u);
  EXPECT_EQ(ev.route, (tracked_request{7, 42, {1, 2}, 40, 8, 16}));
  auto text = encode_sync({sync_event{sync_event::kind::finish, "0a", 9, {}}});
  EXPECT_EQ(text, R"({"events":[{"request":9,"router":"0a","type":"finish"}],"v":1})");
}

TEST(sync_codec, unknown_keys_are_ignored) {
  auto back =
    decode_sync(R"({"v":1,"x":[1],"events":[{"type":"finish","router":"a","request":1,"y":{}}]})");
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->front().type, sync_event::kind::finish);
}

TEST(sync_codec, rejects_garbage) {
  expect_rejected("", "not valid JSON");
  expect_rejected("\x01\xff garbage", "not valid JSON");
  expect_rejected(R"({"v":1,"events":[)", "not valid JSON");
  expect_rejected("[1,2,3]", "not a JSON object");
  expect_rejected(R"("route")", "not a JSON object");
  expect_rejected(std::string(max_sync_bytes + 1, ' '), "exceed the limit");
}

TEST(sync_codec, rejects_wrong_envelopes) {
  expect_rejected(R"({"events":[]})", "'v'");
  expect_rejected(R"({"v":2,"events":[]})", "version 2");
  expect_rejected(R"({"v":"1","events":[]})", "version");
  expect_rejected(R"({"v":1})", "'events'");
  expect_rejected(R"({"v":1,"events":{}})", "'events'");
  expect_rejected(R"({"v":1,"events":[1]})", "event 0: not a JSON object");
  expect_rejected(R"({"v":1,"events":[{"type":"finish","router":"a","request":1},[]]})",
                  "event 1: not a JSON object");
}

TEST(sync_codec, rejects_missing_fields) {
  for (auto field : {"type", "router", "request", "worker", "prompt_hashes", "prompt_tokens",
                     "prefill_tokens", "expected_output_tokens"})
    expect_rejected(route_with(field, ""), std::string{"'"} + field + "' is missing");
}

TEST(sync_codec, rejects_wrong_types_and_ranges) {
  expect_rejected(route_with("type", R"("teleport")"), "unknown type 'teleport'");
  expect_rejected(route_with("type", "1"), "'type' must be a string");
  expect_rejected(route_with("router", "12"), "'router' must be a string");
  expect_rejected(route_with("router", R"("")"), "'router' must have");
  expect_rejected(route_with("router", '"' + std::string(65, 'a') + '"'), "'router' must have");
  expect_rejected(route_with("request", "-1"), "'request' must be an integer");
  expect_rejected(route_with("request", "1.5"), "'request' must be an integer");
  expect_rejected(route_with("request", R"("7")"), "'request' must be an integer");
  expect_rejected(route_with("request", "true"), "'request' must be an integer");
  expect_rejected(route_with("request", "18446744073709551616"), "'request' must be an integer");
  expect_rejected(route_with("worker", "null"), "'worker' must be an integer");
  expect_rejected(route_with("prompt_hashes", "5"), "'prompt_hashes' must be a list");
  expect_rejected(route_with("prompt_hashes", R"([1,"2"])"), "'prompt_hashes' must be a list");
  expect_rejected(route_with("prompt_hashes", "[1,-2]"), "'prompt_hashes' must be a list");
  expect_rejected(route_with("prompt_tokens", "4294967296"), "'prompt_tokens' must be");
  expect_rejected(route_with("prefill_tokens", "41"), "prefill_tokens 41 exceed prompt_tokens 40");
  expect_rejected(route_with("prompt_tokens", "1"), "2 prompt_hashes for 1 prompt_tokens");
  expect_rejected(route_with("expected_output_tokens", "[]"), "'expected_output_tokens' must be");
}

TEST(sync_codec, non_route_events_need_only_their_fields) {
  auto back = decode_sync(R"({"v":1,"events":[{"type":"prefill_done","router":"a","request":3}]})");
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->front().type, sync_event::kind::prefill_done);
  EXPECT_EQ(back->front().request, 3u);
  EXPECT_EQ(back->front().route, tracked_request{});
}

TEST(sync_codec, invalid_utf8_in_router_ids_is_replaced_not_thrown) {
  auto text = encode_sync({sync_event{sync_event::kind::finish, "a\xff", 1, {}}});
  auto back = decode_sync(text);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->front().router, "a\xef\xbf\xbd");
}

} // namespace
} // namespace dynamo::kv_router
