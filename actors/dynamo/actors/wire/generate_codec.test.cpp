#include "dynamo/actors/wire/generate_codec.hpp"

#include "dynamo/error.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace dynamo::actors::wire {
namespace {

/// The flat bytes of a message whose root `Schema` is filled by `fill`.
template <class Schema, class Fill>
std::vector<uint8_t> flat_bytes(Fill fill) {
  ::capnp::MallocMessageBuilder message;
  fill(message.initRoot<Schema>());
  auto words = ::capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return {bytes.begin(), bytes.end()};
}

generate_request full_request() {
  generate_request req;
  req.id = 0x0123456789abcdef;
  req.model = "llama";
  req.tokens = {1, 2, 4294967295u};
  req.sampling = {0.25f, 0.5f, 7, 99};
  req.stop.max_tokens = 3;
  req.stop.stop_token_ids = {5};
  req.stop.ignore_eos = true;
  req.deadline_unix_ms = 1700000000000;
  req.routing = {2.5, 0.125};
  req.prefill_worker = 0xfedcba9876543210;
  return req;
}

TEST(generate_codec, a_request_round_trips_through_flat_bytes) {
  auto req = full_request();
  auto bytes = flat_bytes<schema::GenerateRequest>(
    [&req](schema::GenerateRequest::Builder b) { encode(req, b); });
  auto got = decode_generate_request(bytes.data(), bytes.size());
  ASSERT_TRUE(got) << describe(got.error());
  EXPECT_EQ(got->id, req.id);
  EXPECT_EQ(got->model, req.model);
  EXPECT_EQ(got->tokens, req.tokens);
  EXPECT_EQ(got->sampling.temperature, req.sampling.temperature);
  EXPECT_EQ(got->sampling.top_p, req.sampling.top_p);
  EXPECT_EQ(got->sampling.top_k, req.sampling.top_k);
  EXPECT_EQ(got->sampling.seed, req.sampling.seed);
  EXPECT_EQ(got->stop.max_tokens, req.stop.max_tokens);
  EXPECT_EQ(got->stop.stop_token_ids, req.stop.stop_token_ids);
  EXPECT_EQ(got->stop.ignore_eos, req.stop.ignore_eos);
  EXPECT_EQ(got->deadline_unix_ms, req.deadline_unix_ms);
  EXPECT_EQ(got->routing.overlap_weight, req.routing.overlap_weight);
  EXPECT_EQ(got->routing.temperature, req.routing.temperature);
  EXPECT_EQ(got->prefill_worker, req.prefill_worker) << "all 64 bits of the prefill pick";
}

TEST(generate_codec, an_empty_request_message_reads_as_the_cpp_defaults) {
  auto bytes = flat_bytes<schema::GenerateRequest>([](schema::GenerateRequest::Builder) {});
  auto got = decode_generate_request(bytes.data(), bytes.size());
  ASSERT_TRUE(got) << describe(got.error());
  generate_request defaults;
  EXPECT_EQ(got->sampling.temperature, defaults.sampling.temperature);
  EXPECT_EQ(got->sampling.top_p, defaults.sampling.top_p);
  EXPECT_EQ(got->stop.max_tokens, defaults.stop.max_tokens);
  EXPECT_FALSE(got->sampling.seed.has_value());
  EXPECT_LT(got->routing.overlap_weight, 0.0) << "no hint reads as the router's default";
  EXPECT_LT(got->routing.temperature, 0.0);
  EXPECT_EQ(got->prefill_worker, 0u) << "no prefill pick: the decode worker decides";
}

TEST(generate_codec, out_of_range_request_values_are_invalid_request) {
  auto check = [](auto mutate, const char* what) {
    auto bytes = flat_bytes<schema::GenerateRequest>([&mutate](schema::GenerateRequest::Builder b) {
      encode(full_request(), b);
      mutate(b);
    });
    auto got = decode_generate_request(bytes.data(), bytes.size());
    ASSERT_FALSE(got) << what;
    EXPECT_EQ(classify(got.error()), errc::invalid_request) << what;
  };
  check([](auto b) { b.setTemperature(std::numeric_limits<float>::quiet_NaN()); }, "NaN");
  check([](auto b) { b.setTemperature(-1.0f); }, "negative temperature");
  check([](auto b) { b.setTopP(std::numeric_limits<float>::infinity()); }, "infinite top_p");
  check([](auto b) { b.setTopK(-3); }, "negative top_k");
  check([](auto b) { b.setMaxTokens(0); }, "max_tokens 0");
  check([](auto b) { b.setDeadlineUnixMs(-5); }, "negative deadline");
  check([](auto b) { b.setOverlapWeight(std::numeric_limits<double>::infinity()); },
        "infinite overlap weight");
  check([](auto b) { b.setRouterTemperature(std::numeric_limits<double>::quiet_NaN()); },
        "NaN router temperature");
  check([](auto b) { b.setModel(std::string(5000, 'm')); }, "oversized model name");
}

TEST(generate_codec, chunks_and_summaries_round_trip_and_reject_unknown_finish_reasons) {
  token_chunk chunk{{3, 1, 4}, engine::finish_reason::stop, 10, 4};
  auto bytes = flat_bytes<schema::TokenChunk>(
    [&chunk](schema::TokenChunk::Builder b) { encode(chunk, b); });
  auto got = decode_token_chunk(bytes.data(), bytes.size());
  ASSERT_TRUE(got) << describe(got.error());
  EXPECT_EQ(got->tokens, chunk.tokens);
  EXPECT_EQ(got->finish, chunk.finish);
  EXPECT_EQ(got->prompt_tokens, chunk.prompt_tokens);
  EXPECT_EQ(got->cached_prompt_tokens, chunk.cached_prompt_tokens);

  generate_summary summary{77, 10, 4, 3, engine::finish_reason::length};
  auto sbytes = flat_bytes<schema::GenerateSummary>(
    [&summary](schema::GenerateSummary::Builder b) { encode(summary, b); });
  auto sgot = decode_generate_summary(sbytes.data(), sbytes.size());
  ASSERT_TRUE(sgot) << describe(sgot.error());
  EXPECT_EQ(sgot->worker_instance, 77u);
  EXPECT_EQ(sgot->completion_tokens, 3u);
  EXPECT_EQ(sgot->finish, engine::finish_reason::length);

  auto bad = flat_bytes<schema::TokenChunk>([](schema::TokenChunk::Builder b) {
    b.setFinish(static_cast<schema::FinishReason>(200));
  });
  auto rejected = decode_token_chunk(bad.data(), bad.size());
  ASSERT_FALSE(rejected);
  EXPECT_EQ(classify(rejected.error()), errc::invalid_request);
}

TEST(generate_codec, garbage_bytes_are_rejected_without_crashing) {
  std::mt19937_64 rng{7};
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> bytes(8 * (1 + rng() % 16));
    for (auto& b : bytes)
      b = static_cast<uint8_t>(rng());
    // Any outcome but a crash is fine; a failure must be classified.
    auto req = decode_generate_request(bytes.data(), bytes.size());
    if (!req) {
      EXPECT_EQ(classify(req.error()), errc::invalid_request);
    }
    auto chunk = decode_token_chunk(bytes.data(), bytes.size());
    if (!chunk) {
      EXPECT_EQ(classify(chunk.error()), errc::invalid_request);
    }
  }
  uint8_t odd[5] = {1, 2, 3, 4, 5};
  auto req = decode_generate_request(odd, sizeof(odd));
  ASSERT_FALSE(req);
  EXPECT_EQ(classify(req.error()), errc::invalid_request);
  EXPECT_FALSE(decode_generate_request(nullptr, 0));
}

} // namespace
} // namespace dynamo::actors::wire
