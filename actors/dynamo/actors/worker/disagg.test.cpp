// Disaggregated serving inside one runtime (in-process request and data planes): decode workers
// hand prompts to a prefill worker, which writes their KV into the decode workers' blocks; the
// token streams must equal an aggregated worker's, and no side may leak blocks, transfers or
// remote prefills after normal runs, peer failure and cancellation.
#include "dynamo/actors/worker/worker.hpp"

#include "dynamo/actors/worker/prefill_worker.hpp"
#include "dynamo/error.hpp"
#include "dynamo/model/synthesize.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace dynamo::actors {
namespace {

using dynamo::testing::ask_stats;
using dynamo::testing::actor_timeout;
using dynamo::testing::await_reply;
using dynamo::testing::make_request;
using dynamo::testing::receive_stream;
using dynamo::testing::wait_until;

/// Fast enough that a request completes in milliseconds.
constexpr double fast = 1000;
/// Slow enough that a prefill worker computes a long prompt for seconds: kills and cancellations
/// reliably catch it in flight.
constexpr double crawling = 0.002;

worker_config mocker_config(double speedup) {
  worker_config cfg;
  cfg.model = "test-model";
  cfg.engine = "mocker";
  cfg.load_interval = std::chrono::milliseconds{1};
  cfg.mocker.speedup_ratio = speedup;
  cfg.mocker.kv_bytes_per_token = 64;
  cfg.mocker.kv_layers = 4;
  cfg.scheduler.total_kv_blocks = 256;
  cfg.disagg.min_remote_tokens = 0;
  return cfg;
}

/// A greedy request whose prompt differs per `salt` (so that prompts share no prefix).
generate_request greedy_request(request_id id, size_t prompt, uint32_t max_tokens,
                                uint32_t salt) {
  auto req = make_request(id, prompt, max_tokens);
  for (auto& t : req.tokens)
    t = static_cast<engine::token_id>(1 + (t * 7 + salt * 13) % 250);
  req.sampling.temperature = 0;
  req.stop.ignore_eos = true;
  return req;
}

class disagg_test : public dynamo::testing::actor_test {
protected:
  /// Spawns the prefill worker "prefill".
  prefill_worker_actor start_prefill(const worker_config& cfg) {
    prefill_ctx_ = dynamo::testing::make_context(rt(), "prefill");
    auto hdl = prefill_worker::spawn(prefill_ctx_, cfg);
    EXPECT_TRUE(hdl) << "the prefill worker did not spawn";
    return caf::actor_cast<prefill_worker_actor>(own(hdl));
  }

  /// Spawns a decode worker connected to "prefill"; waits until it sees `peers` prefill peers.
  worker_actor start_decode(const worker_config& cfg, uint64_t peers = 1) {
    auto ctx = dynamo::testing::make_context(rt(), "decode",
                                             {edge_target{"prefill", "prefill", "prefill"}});
    auto hdl = caf::actor_cast<worker_actor>(own(decode_worker::spawn(ctx, cfg)));
    EXPECT_TRUE(hdl) << "the decode worker did not spawn";
    if (hdl) {
      EXPECT_TRUE(wait_until([this, &hdl, peers] { return stats(hdl).prefill_peers == peers; },
                             actor_timeout))
        << "timed out waiting for the decode worker to see its prefill peers";
    }
    return hdl;
  }

  /// Spawns an aggregated worker (the reference for token streams).
  worker_actor start_aggregated(const worker_config& cfg) {
    auto ctx = dynamo::testing::make_context(rt(), "agg");
    auto hdl = aggregated_worker::spawn(ctx, cfg);
    EXPECT_TRUE(hdl) << "the aggregated worker did not spawn";
    return caf::actor_cast<worker_actor>(own(hdl));
  }

  /// Runs one request to its end.
  std::pair<dynamo::testing::stream_result, dynamo::testing::generate_reply>
  generate(const worker_actor& worker, generate_request req) {
    auto id = req.id;
    auto handle = self()->request(worker, actor_timeout, generate_atom::value, std::move(req),
                                  sink());
    auto stream = receive_stream(self(), id);
    return {std::move(stream), await_reply(handle)};
  }

  /// The tokens of a request that must succeed.
  std::vector<engine::token_id> tokens_of(const worker_actor& worker, generate_request req) {
    auto [stream, reply] = generate(worker, std::move(req));
    EXPECT_TRUE(stream.ended) << "the stream must end";
    EXPECT_FALSE(reply.error) << describe(reply.error);
    return stream.tokens();
  }

  worker_stats stats(const worker_actor& worker) {
    return ask_stats<worker_stats>(self(), worker);
  }

  prefill_worker_stats stats(const prefill_worker_actor& worker) {
    return ask_stats<prefill_worker_stats>(self(), worker);
  }

  /// Waits until the decode worker holds no block, transfer or remote prefill any more.
  void expect_decode_idle(const worker_actor& worker) {
    worker_stats last;
    auto idle = wait_until(
      [this, &worker, &last] {
        last = stats(worker);
        return last.active_requests == 0 && last.awaiting_remote == 0
               && last.active_kv_blocks == 0 && last.held_kv_blocks == 0
               && last.awaiting_kv_sequences == 0 && last.data_in_flight == 0;
      },
      actor_timeout);
    EXPECT_TRUE(idle) << "timed out waiting for the decode worker to free everything: active requests " << last.active_requests << ", awaiting remote "
                      << last.awaiting_remote << ", active blocks " << last.active_kv_blocks
                      << ", held " << last.held_kv_blocks << ", awaiting KV "
                      << last.awaiting_kv_sequences << ", transfers " << last.data_in_flight;
  }

  /// Waits until the prefill worker holds no block, transfer or job any more.
  void expect_prefill_idle(const prefill_worker_actor& worker) {
    prefill_worker_stats last;
    auto idle = wait_until(
      [this, &worker, &last] {
        last = stats(worker);
        return last.active_prefills == 0 && last.active_kv_blocks == 0
               && last.held_kv_blocks == 0 && last.data_in_flight == 0;
      },
      actor_timeout);
    EXPECT_TRUE(idle) << "timed out waiting for the prefill worker to free everything: jobs " << last.active_prefills << ", active blocks "
                      << last.active_kv_blocks << ", held " << last.held_kv_blocks
                      << ", transfers " << last.data_in_flight;
  }

  component_context prefill_ctx_;
};

TEST_F(disagg_test, mocker_streams_equal_aggregated_ones) {
  auto cfg = mocker_config(fast);
  auto prefill = start_prefill(cfg);
  auto decode_a = start_decode(cfg);
  auto decode_b = start_decode(cfg);
  auto agg = start_aggregated(cfg);
  uint32_t salt = 0;
  for (size_t prompt : {40u, 17u, 129u, 64u}) {
    ++salt;
    auto expected = tokens_of(agg, greedy_request(salt, prompt, 12, salt));
    ASSERT_EQ(expected.size(), 12u);
    EXPECT_EQ(tokens_of(decode_a, greedy_request(salt, prompt, 12, salt)), expected)
      << "decode worker A, prompt of " << prompt;
    EXPECT_EQ(tokens_of(decode_b, greedy_request(salt, prompt, 12, salt)), expected)
      << "decode worker B, prompt of " << prompt;
  }
  auto a = stats(decode_a);
  auto b = stats(decode_b);
  EXPECT_EQ(a.remote_prefills, 4u);
  EXPECT_EQ(b.remote_prefills, 4u);
  EXPECT_EQ(a.local_prefills + b.local_prefills, 0u);
  EXPECT_GT(a.kv_transfer_bytes, 0u) << "the prefill worker must have written KV bytes";
  auto filter = "instance=\"";
  EXPECT_GE(dynamo::testing::metric_value(rt().metrics().render(),
                                          "dynamo_worker_remote_prefills_total", filter)
              .value_or(0),
            8.0);
  expect_decode_idle(decode_a);
  expect_decode_idle(decode_b);
  expect_prefill_idle(prefill);
}

TEST_F(disagg_test, short_prompts_below_the_threshold_prefill_locally) {
  auto cfg = mocker_config(fast);
  auto prefill = start_prefill(cfg);
  auto decode_cfg = cfg;
  decode_cfg.disagg.min_remote_tokens = 1000;
  auto decode = start_decode(decode_cfg);
  auto agg = start_aggregated(cfg);
  auto expected = tokens_of(agg, greedy_request(7, 24, 10, 3));
  EXPECT_EQ(tokens_of(decode, greedy_request(7, 24, 10, 3)), expected);
  auto s = stats(decode);
  EXPECT_EQ(s.local_prefills, 1u);
  EXPECT_EQ(s.remote_prefills, 0u);
  expect_decode_idle(decode);
  expect_prefill_idle(prefill);
}

TEST_F(disagg_test, a_prefill_worker_with_another_kv_layout_is_never_used) {
  auto cfg = mocker_config(fast);
  auto prefill_cfg = cfg;
  prefill_cfg.mocker.kv_bytes_per_token = 128;  // twice the decode worker's region size
  auto prefill = start_prefill(prefill_cfg);
  auto decode = start_decode(cfg, 0);
  ASSERT_TRUE(wait_until([this, &decode] { return stats(decode).rejected_prefill_peers == 1; },
                         actor_timeout))
    << "the decode worker never saw (and refused) the prefill worker";
  auto agg = start_aggregated(cfg);
  auto expected = tokens_of(agg, greedy_request(8, 40, 10, 5));
  EXPECT_EQ(tokens_of(decode, greedy_request(8, 40, 10, 5)), expected);
  auto s = stats(decode);
  EXPECT_EQ(s.prefill_peers, 0u);
  EXPECT_EQ(s.remote_prefills, 0u);
  EXPECT_EQ(s.local_prefills, 1u);
  expect_decode_idle(decode);
  expect_prefill_idle(prefill);
}

TEST_F(disagg_test, a_killed_prefill_worker_falls_back_to_a_local_prefill) {
  auto agg = start_aggregated(mocker_config(fast));
  auto expected = tokens_of(agg, greedy_request(11, 200, 8, 5));
  auto prefill = start_prefill(mocker_config(crawling));
  auto decode = start_decode(mocker_config(fast));
  auto req = greedy_request(11, 200, 8, 5);
  auto handle = self()->request(decode, actor_timeout, generate_atom::value, req, sink());
  ASSERT_TRUE(wait_until([this, &prefill] { return stats(prefill).active_prefills == 1; },
                         actor_timeout))
      << "timed out waiting for the prefill worker to compute the prompt";
  caf::anon_send_exit(prefill, caf::exit_reason::kill);
  auto stream = receive_stream(self(), req.id);
  auto reply = await_reply(handle);
  EXPECT_TRUE(stream.ended);
  EXPECT_FALSE(reply.error) << describe(reply.error);
  EXPECT_EQ(stream.tokens(), expected);
  auto s = stats(decode);
  EXPECT_EQ(s.remote_prefills, 1u);
  EXPECT_EQ(s.remote_prefill_fallbacks, 1u);
  EXPECT_EQ(s.local_prefills, 1u);
  expect_decode_idle(decode);
}

TEST_F(disagg_test, without_fallback_a_killed_prefill_worker_fails_the_request) {
  auto prefill = start_prefill(mocker_config(crawling));
  auto cfg = mocker_config(fast);
  cfg.remote_prefill_fallback = false;
  auto decode = start_decode(cfg);
  auto req = greedy_request(12, 200, 8, 6);
  auto handle = self()->request(decode, actor_timeout, generate_atom::value, req, sink());
  ASSERT_TRUE(wait_until([this, &prefill] { return stats(prefill).active_prefills == 1; },
                         actor_timeout))
      << "timed out waiting for the prefill worker to compute the prompt";
  caf::anon_send_exit(prefill, caf::exit_reason::kill);
  auto stream = receive_stream(self(), req.id);
  auto reply = await_reply(handle);
  ASSERT_TRUE(stream.failure) << "the stream must fail";
  auto code = classify(*stream.failure);
  EXPECT_TRUE(code == errc::disconnected || code == errc::unavailable) << to_string(code);
  EXPECT_EQ(classify(reply.error), code);
  EXPECT_EQ(stats(decode).remote_prefill_fallbacks, 0u);
  expect_decode_idle(decode);
}

TEST_F(disagg_test, a_late_prefill_is_cancelled_then_redone_locally) {
  auto agg = start_aggregated(mocker_config(fast));
  auto expected = tokens_of(agg, greedy_request(14, 200, 8, 8));
  auto prefill = start_prefill(mocker_config(crawling));
  auto cfg = mocker_config(fast);
  cfg.remote_prefill_timeout = std::chrono::milliseconds{50};
  auto decode = start_decode(cfg);
  EXPECT_EQ(tokens_of(decode, greedy_request(14, 200, 8, 8)), expected);
  auto s = stats(decode);
  EXPECT_EQ(s.remote_prefills, 1u);
  EXPECT_EQ(s.remote_prefill_fallbacks, 1u);
  expect_decode_idle(decode);
  // The timeout told the prefill worker to stop: it frees its blocks without finishing.
  expect_prefill_idle(prefill);
}

TEST_F(disagg_test, a_cancel_while_awaiting_the_prefill_frees_both_sides) {
  auto prefill = start_prefill(mocker_config(crawling));
  auto decode = start_decode(mocker_config(fast));
  auto req = greedy_request(13, 200, 8, 7);
  auto handle = self()->request(decode, actor_timeout, generate_atom::value, req, sink());
  ASSERT_TRUE(wait_until([this, &prefill] { return stats(prefill).active_prefills == 1; },
                         actor_timeout))
      << "timed out waiting for the prefill worker to compute the prompt";
  self()->send(decode, cancel_atom::value, req.id, cancel_kind::kill);
  auto stream = receive_stream(self(), req.id);
  auto reply = await_reply(handle);
  ASSERT_TRUE(stream.failure) << "a killed request's stream fails";
  EXPECT_EQ(classify(*stream.failure), errc::cancelled);
  EXPECT_EQ(classify(reply.error), errc::cancelled);
  expect_prefill_idle(prefill);
  expect_decode_idle(decode);
}

// -- the reference engine, token for token ------------------------------------------------------

class disagg_reference_test : public disagg_test {
protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path{std::filesystem::temp_directory_path()
                                     / ("dynamo-disagg-ref-" + std::to_string(::getpid()))};
    std::filesystem::remove_all(*dir_);
    auto spec = model::synth_preset("tiny");
    ASSERT_TRUE(spec) << describe(spec.error());
    auto err = model::synthesize(*spec, *dir_ / "tiny", nullptr);
    ASSERT_FALSE(err) << describe(err);
  }

  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static worker_config reference_config() {
    worker_config cfg;
    cfg.engine = "reference";
    cfg.model_path = (*dir_ / "tiny").string();
    cfg.reference.threads = 1;
    cfg.scheduler.total_kv_blocks = 128;
    cfg.load_interval = std::chrono::milliseconds{1};
    cfg.disagg.min_remote_tokens = 0;
    return cfg;
  }

  static inline std::filesystem::path* dir_ = nullptr;
};

TEST_F(disagg_reference_test, greedy_streams_equal_aggregated_ones) {
  auto cfg = reference_config();
  auto prefill = start_prefill(cfg);
  auto decode = start_decode(cfg);
  auto agg = start_aggregated(cfg);
  uint32_t salt = 0;
  for (size_t prompt : {9u, 33u, 70u}) {
    ++salt;
    auto expected = tokens_of(agg, greedy_request(100 + salt, prompt, 6, salt));
    ASSERT_EQ(expected.size(), 6u);
    EXPECT_EQ(tokens_of(decode, greedy_request(100 + salt, prompt, 6, salt)), expected)
      << "prompt of " << prompt;
  }
  auto s = stats(decode);
  EXPECT_EQ(s.remote_prefills, 3u);
  EXPECT_GT(s.kv_transfer_bytes, 0u);
  expect_decode_idle(decode);
  expect_prefill_idle(prefill);
}

} // namespace
} // namespace dynamo::actors
