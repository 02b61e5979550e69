// The worker tested alone: a real mocker engine behind the worker's typed interface, driven
// directly by the test acting as client and sink; discovery, event plane and metrics observed
// from the outside.
#include "dynamo/actors/worker/worker.hpp"

#include "dynamo/error.hpp"
#include "dynamo/kv_router/event_codec.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <string>

namespace dynamo::actors {
namespace {

using dynamo::testing::actor_timeout;
using dynamo::testing::await_reply;
using dynamo::testing::event_collector;
using dynamo::testing::make_request;
using dynamo::testing::metric_value;
using dynamo::testing::receive_chunk;
using dynamo::testing::receive_stream;
using dynamo::testing::wait_until;

/// Fast enough that a short request completes in milliseconds.
constexpr double fast = 1000;
/// Slow enough (real-time decode steps of ~6 ms) that a 1000-token request still runs seconds
/// after its first token: cancellations and drains reliably catch it in flight.
constexpr double slow = 1;
constexpr uint32_t long_generation = 1000;
constexpr uint64_t kv_blocks = 1024;

/// A sink that terminates when its first item arrives.
token_sink_actor::behavior_type dying_sink(token_sink_actor::pointer self,
                                           std::shared_ptr<std::atomic<int>> items) {
  return {
    [self, items](stream_item_atom, request_id, token_chunk&) {
      ++*items;
      self->quit();
    },
    [](stream_end_atom, request_id) {},
    [](stream_fail_atom, request_id, caf::error&) {},
  };
}

/// A sink shared by several requests: it terminates on the first item after one stream ended.
token_sink_actor::behavior_type dies_after_first_end(token_sink_actor::pointer self,
                                                     std::shared_ptr<std::atomic<int>> ends) {
  return {
    [self, ends](stream_item_atom, request_id, token_chunk&) {
      if (ends->load() > 0)
        self->quit();
    },
    [ends](stream_end_atom, request_id) { ++*ends; },
    [](stream_fail_atom, request_id, caf::error&) {},
  };
}

class worker_test : public dynamo::testing::actor_test {
protected:
  /// Spawns a mocker worker named "worker" serving "test-model".
  worker_actor start_worker(double speedup = fast) {
    ctx_ = dynamo::testing::make_context(rt(), "worker");
    worker_config cfg;
    cfg.model = "test-model";
    cfg.load_interval = std::chrono::milliseconds{1};
    cfg.mocker.speedup_ratio = speedup;
    cfg.scheduler.total_kv_blocks = kv_blocks;
    auto hdl = mocker_worker::spawn(ctx_, cfg);
    EXPECT_TRUE(hdl) << "the worker did not spawn";
    return caf::actor_cast<worker_actor>(own(hdl));
  }

  /// Runs one request to the end and returns its stream and reply.
  std::pair<dynamo::testing::stream_result, dynamo::testing::generate_reply>
  generate(const worker_actor& worker, generate_request req) {
    auto id = req.id;
    auto handle = self()->request(worker, actor_timeout, generate_atom::value, std::move(req),
                                  sink());
    auto stream = receive_stream(self(), id);
    return {std::move(stream), await_reply(handle)};
  }

  /// The worker's gauge `name` in /metrics, or -1 if absent.
  double gauge(const std::string& name) {
    auto filter = "instance=\"" + ctx_.instance.to_string() + "\"";
    return metric_value(rt().metrics().render(), name, filter).value_or(-1);
  }

  /// The worker's discovery records.
  std::vector<discovery_record> registrations() {
    return rt().discovery().list(rt().ns() + "/worker/");
  }

  /// Waits for the reply of a drain request.
  template <class Handle>
  std::optional<drain_report> await_drain(Handle& handle) {
    std::optional<drain_report> report;
    handle.receive([&report](drain_report& r) { report = r; },
                   [](caf::error& err) { ADD_FAILURE() << "drain failed: " << describe(err); });
    return report;
  }

  component_context ctx_;
};

TEST(worker_config_test, short_forms_set_every_worker_component_and_full_keys_win) {
  worker_config prefill;
  worker_config decode;
  option_set opts{"test"};
  prefill.bind(opts, "prefill");
  decode.bind(opts, "decode");
  std::vector<const char*> argv{"t", "--engine", "mocker", "--model", "/models/m",
                                "--served-model-name", "m", "--decode.model", "d"};
  ASSERT_FALSE(opts.parse(static_cast<int>(argv.size()), argv.data(), {}));
  EXPECT_EQ(prefill.engine, "mocker");
  EXPECT_EQ(decode.engine, "mocker");
  EXPECT_EQ(prefill.model_path, "/models/m");
  EXPECT_EQ(decode.model_path, "/models/m");
  EXPECT_EQ(prefill.model, "m");
  EXPECT_EQ(decode.model, "d") << "--decode.model beats --served-model-name";
}

TEST_F(worker_test, streams_exactly_max_tokens_then_ends) {
  auto worker = start_worker();
  auto [stream, reply] = generate(worker, make_request(1, 64, 20));
  ASSERT_TRUE(stream.ended) << "the stream must end with s_end";
  EXPECT_FALSE(stream.failure);
  auto tokens = stream.tokens();
  ASSERT_EQ(tokens.size(), 20u);
  for (auto t : tokens) {
    EXPECT_GE(t, 32u);
    EXPECT_LE(t, 126u);
  }
  ASSERT_FALSE(stream.chunks.empty());
  EXPECT_EQ(stream.chunks.back().finish, engine::finish_reason::length);
  for (size_t i = 0; i + 1 < stream.chunks.size(); ++i)
    EXPECT_EQ(stream.chunks[i].finish, engine::finish_reason::none) << "chunk " << i;
  EXPECT_EQ(stream.chunks.back().prompt_tokens, 64u);
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  EXPECT_EQ(reply.summary->worker_instance, ctx_.instance.value);
  EXPECT_EQ(reply.summary->prompt_tokens, 64u);
  EXPECT_EQ(reply.summary->completion_tokens, 20u);
  EXPECT_EQ(reply.summary->finish, engine::finish_reason::length);
}

TEST_F(worker_test, the_same_request_gives_the_same_tokens) {
  auto worker = start_worker();
  auto first = generate(worker, make_request(1, 40, 24)).first.tokens();
  auto second = generate(worker, make_request(2, 40, 24)).first.tokens();
  ASSERT_EQ(first.size(), 24u);
  EXPECT_EQ(first, second) << "tokens must depend on the request only";
  auto other = make_request(3, 40, 24);
  other.tokens[0] += 1;
  EXPECT_NE(generate(worker, other).first.tokens(), first)
    << "a different prompt must give different tokens";
}

TEST_F(worker_test, a_repeated_long_prompt_is_served_from_the_prefix_cache) {
  auto worker = start_worker();
  auto first = generate(worker, make_request(1, 256, 4));
  ASSERT_TRUE(first.second.summary) << describe(first.second.error);
  EXPECT_EQ(first.second.summary->cached_prompt_tokens, 0u);
  auto second = generate(worker, make_request(2, 256, 4));
  ASSERT_TRUE(second.second.summary) << describe(second.second.error);
  EXPECT_GT(second.second.summary->cached_prompt_tokens, 0u);
  EXPECT_LE(second.second.summary->cached_prompt_tokens, 256u);
  ASSERT_FALSE(second.first.chunks.empty());
  EXPECT_EQ(second.first.chunks.back().cached_prompt_tokens,
            second.second.summary->cached_prompt_tokens);
}

TEST_F(worker_test, cancel_kill_fails_the_stream_and_the_reply) {
  auto worker = start_worker(slow);
  auto handle = self()->request(worker, actor_timeout, generate_atom::value,
                                make_request(1, 64, long_generation), sink());
  ASSERT_TRUE(receive_chunk(self(), 1));
  self()->send(worker, cancel_atom::value, request_id{1}, cancel_kind::kill);
  auto stream = receive_stream(self(), 1);
  ASSERT_TRUE(stream.failure) << "the sink must get s_fail";
  EXPECT_EQ(classify(*stream.failure), errc::cancelled);
  EXPECT_LT(stream.tokens().size(), long_generation);
  auto reply = await_reply(handle);
  EXPECT_FALSE(reply.summary);
  EXPECT_EQ(classify(reply.error), errc::cancelled) << describe(reply.error);
  EXPECT_EQ(gauge("dynamo_component_inflight_requests"), 0);
}

TEST_F(worker_test, cancel_stop_generating_ends_the_stream_gracefully) {
  auto worker = start_worker(slow);
  auto handle = self()->request(worker, actor_timeout, generate_atom::value,
                                make_request(1, 64, long_generation), sink());
  auto first = receive_chunk(self(), 1);
  ASSERT_TRUE(first);
  self()->send(worker, cancel_atom::value, request_id{1}, cancel_kind::stop_generating);
  auto stream = receive_stream(self(), 1);
  EXPECT_TRUE(stream.ended) << "the sink must get s_end";
  EXPECT_FALSE(stream.failure);
  ASSERT_FALSE(stream.chunks.empty());
  EXPECT_EQ(stream.chunks.back().finish, engine::finish_reason::cancelled);
  auto received = first->tokens.size() + stream.tokens().size();
  EXPECT_LT(received, long_generation);
  auto reply = await_reply(handle);
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  EXPECT_EQ(reply.summary->finish, engine::finish_reason::cancelled);
  EXPECT_EQ(reply.summary->completion_tokens, received)
    << "the summary counts exactly the tokens the sink received";
}

TEST_F(worker_test, a_dead_sink_drops_its_request) {
  auto worker = start_worker(slow);
  auto items = std::make_shared<std::atomic<int>>(0);
  auto dying = rt().system().spawn(dying_sink, items);
  auto handle = self()->request(worker, actor_timeout, generate_atom::value,
                                make_request(1, 64, long_generation), dying);
  auto reply = await_reply(handle);
  EXPECT_FALSE(reply.summary) << "a request whose sink died must not run to the end";
  EXPECT_EQ(classify(reply.error), errc::cancelled) << describe(reply.error);
  EXPECT_EQ(items->load(), 1);
  EXPECT_TRUE(wait_until(
    [&] {
      return gauge("dynamo_component_inflight_requests") == 0
             && gauge("dynamo_component_kv_active_blocks") == 0;
    },
    actor_timeout))
    << "timed out waiting for in-flight requests and active KV blocks to return to 0 (inflight "
    << gauge("dynamo_component_inflight_requests") << ", active blocks "
    << gauge("dynamo_component_kv_active_blocks") << ")";
}

TEST_F(worker_test, a_sink_shared_by_requests_is_watched_until_its_last_request) {
  // The worker monitors a sink once for all its requests and stops when the last one ends; a
  // finished request must not stop the watch while another one still streams to that sink.
  auto worker = start_worker(slow);
  auto ends = std::make_shared<std::atomic<int>>(0);
  auto sink_hdl = rt().system().spawn(dies_after_first_end, ends);
  auto short_req = self()->request(worker, actor_timeout, generate_atom::value,
                                   make_request(1, 16, 2), sink_hdl);
  auto long_req = self()->request(worker, actor_timeout, generate_atom::value,
                                  make_request(2, 16, long_generation), sink_hdl);
  auto first = await_reply(short_req);
  ASSERT_TRUE(first.summary) << describe(first.error);
  EXPECT_EQ(first.summary->completion_tokens, 2u);
  auto second = await_reply(long_req);
  EXPECT_FALSE(second.summary) << "the request of a sink that died must not run to the end";
  EXPECT_EQ(classify(second.error), errc::cancelled) << describe(second.error);
  EXPECT_EQ(ends->load(), 1);
  EXPECT_TRUE(wait_until(
    [&] {
      return gauge("dynamo_component_inflight_requests") == 0
             && gauge("dynamo_component_kv_active_blocks") == 0;
    },
    actor_timeout))
    << "inflight " << gauge("dynamo_component_inflight_requests") << ", active blocks "
    << gauge("dynamo_component_kv_active_blocks");
}

TEST_F(worker_test, publishes_kv_events_and_load_on_the_event_plane) {
  event_collector kv{rt().events(), rt().ns() + ".worker.kv_events"};
  event_collector load{rt().events(), rt().ns() + ".worker.load"};
  auto worker = start_worker();
  auto [stream, reply] = generate(worker, make_request(1, 64, 4));
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  auto stored_hashes = [&kv] {
    size_t n = 0;
    for (const auto& m : kv.messages()) {
      auto batch = kv_router::decode_batch(m.payload);
      EXPECT_TRUE(batch) << "a published KV batch must decode: " << describe(batch.error());
      if (!batch)
        continue;
      for (const auto& ev : batch->events)
        if (ev.type == engine::kv_event::kind::stored)
          n += ev.block_hashes.size();
    }
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return stored_hashes() >= 4; }, actor_timeout))
    << "timed out waiting for 'stored' KV events covering the 4 full prompt blocks";
  auto msgs = kv.messages();
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(msgs.front().publisher, ctx_.instance.to_string());
  auto doc = nlohmann::json::parse(msgs.front().payload);
  EXPECT_EQ(doc["worker_id"].get<uint64_t>(), ctx_.instance.value);
  ASSERT_TRUE(wait_until([&] { return !load.messages().empty(); }, actor_timeout))
    << "timed out waiting for a load report";
  auto report = nlohmann::json::parse(load.messages().back().payload);
  EXPECT_EQ(report["worker_id"].get<uint64_t>(), ctx_.instance.value);
  EXPECT_EQ(report["total_kv_blocks"].get<uint64_t>(), kv_blocks);
  EXPECT_EQ(report["kv_block_size"].get<uint32_t>(), 16u);
  EXPECT_TRUE(report.contains("active_kv_blocks"));
}

TEST_F(worker_test, registers_its_capacity_in_discovery) {
  start_worker();
  ASSERT_TRUE(wait_until([&] { return registrations().size() == 1; }, actor_timeout))
    << "timed out waiting for the worker to register";
  auto rec = registrations().front();
  EXPECT_EQ(rec.instance, ctx_.instance);
  EXPECT_EQ(rec.metadata["model"], "test-model");
  EXPECT_EQ(rec.metadata["kv_block_size"], "16");
  EXPECT_EQ(rec.metadata["total_kv_blocks"], std::to_string(kv_blocks));
  EXPECT_EQ(rec.metadata["endpoints"], "generate@1,kv@1");
  auto reg = instance_registration::from_metadata(rec.metadata);
  ASSERT_TRUE(reg) << "the worker's own record must decode: " << describe(reg.error());
  EXPECT_EQ(reg->endpoints, (std::map<std::string, uint32_t>{{"generate", 1}, {"kv", 1}}));
  EXPECT_EQ(reg->capacity.model, "test-model");
  EXPECT_EQ(reg->capacity.kv_block_size, 16u);
  EXPECT_EQ(reg->capacity.total_kv_blocks, kv_blocks);
  EXPECT_EQ(reg->capacity.hash_scheme, "xxh3-64:seed=1337");
  ASSERT_TRUE(reg->capacity.max_num_seqs);
  EXPECT_GE(*reg->capacity.max_num_seqs, 1u);
  EXPECT_EQ(reg->extra.at("interfaces"), "worker,generate");
  EXPECT_EQ(reg->extra.at("engine"), "mocker");
  EXPECT_TRUE(reg->rpc_address.empty()) << "the in-process request plane advertises no address";
  EXPECT_TRUE(rt().requests().connect(ctx_.address("generate")))
    << "the generate endpoint must be served";
}

TEST_F(worker_test, drain_lets_the_request_in_flight_finish) {
  auto worker = start_worker();
  ASSERT_TRUE(wait_until([&] { return registrations().size() == 1; }, actor_timeout));
  // Mailbox order: the request is admitted before the drain arrives.
  auto handle = self()->request(worker, actor_timeout, generate_atom::value,
                                make_request(1, 64, 50), sink());
  auto drain = self()->request(worker, actor_timeout, drain_atom::value, uint32_t{5000});
  auto stream = receive_stream(self(), 1);
  EXPECT_TRUE(stream.ended);
  EXPECT_EQ(stream.tokens().size(), 50u);
  auto reply = await_reply(handle);
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  auto report = await_drain(drain);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean);
  EXPECT_EQ(report->abandoned, 0u);
  EXPECT_TRUE(registrations().empty()) << "a draining worker leaves discovery";
  ASSERT_TRUE(await_down(caf::actor_cast<caf::actor>(worker)));
}

TEST_F(worker_test, a_drain_bound_that_passes_abandons_the_request) {
  auto worker = start_worker(slow);
  auto handle = self()->request(worker, actor_timeout, generate_atom::value,
                                make_request(1, 64, long_generation), sink());
  ASSERT_TRUE(receive_chunk(self(), 1));
  auto drain = self()->request(worker, actor_timeout, drain_atom::value, uint32_t{500});
  auto refused = self()->request(worker, actor_timeout, generate_atom::value,
                                 make_request(2, 8, 4), sink());
  auto r2 = await_reply(refused);
  EXPECT_EQ(classify(r2.error), errc::unavailable) << "a draining worker takes no new requests";
  auto report = await_drain(drain);
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->clean);
  EXPECT_EQ(report->abandoned, 1u);
  auto stream = receive_stream(self(), 1);
  ASSERT_TRUE(stream.failure);
  EXPECT_EQ(classify(*stream.failure), errc::cancelled);
  EXPECT_EQ(classify(await_reply(handle).error), errc::cancelled);
  EXPECT_TRUE(registrations().empty());
  ASSERT_TRUE(await_down(caf::actor_cast<caf::actor>(worker)));
}

TEST_F(worker_test, refuses_bad_requests_without_touching_the_sink) {
  auto worker = start_worker(slow);
  auto refuse = [&](generate_request req, token_sink_actor to) {
    auto handle = self()->request(worker, actor_timeout, generate_atom::value, std::move(req),
                                  std::move(to));
    auto reply = await_reply(handle);
    EXPECT_FALSE(reply.summary);
    return classify(reply.error);
  };
  EXPECT_EQ(refuse(make_request(1, 0, 4), sink()), errc::invalid_request) << "empty prompt";
  EXPECT_EQ(refuse(make_request(2, 8000, 500), sink()), errc::invalid_request)
    << "longer than the model's context";
  EXPECT_EQ(refuse(make_request(3, 8, 4), token_sink_actor{}), errc::invalid_request)
    << "no sink";
  auto running = self()->request(worker, actor_timeout, generate_atom::value,
                                 make_request(4, 64, long_generation), sink());
  ASSERT_TRUE(receive_chunk(self(), 4));
  EXPECT_EQ(refuse(make_request(4, 8, 4), sink()), errc::invalid_request) << "duplicate id";
  self()->send(worker, cancel_atom::value, request_id{4}, cancel_kind::kill);
  auto stream = receive_stream(self(), 4);
  EXPECT_TRUE(stream.failure) << "only the running request streams to the sink";
  EXPECT_EQ(classify(await_reply(running).error), errc::cancelled);
  EXPECT_EQ(gauge("dynamo_component_inflight_requests"), 0);
}

} // namespace
} // namespace dynamo::actors
