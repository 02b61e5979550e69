#include "dynamo/actors/wire/kv_query_binding.hpp"

#include "dynamo/actors/kv_messages.hpp"
#include "dynamo/actors/wire/generate_binding.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/capnp/requests.hpp"
#include "dynamo/error.hpp"
#include "dynamo/kv_router/event_codec.hpp"
#include "dynamo/testing/actor_fakes.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dynamo::actors::wire {
namespace {

using testing::actor_timeout;

/// What a fake kv endpoint answers, and the queries it received. Thread-safe.
struct fake_kv_script {
  kv_replay reply;
  caf::error error;  ///< Replied instead of `reply` when set.

  void record(uint64_t after, bool force_dump) {
    std::lock_guard<std::mutex> guard{mtx};
    calls.emplace_back(after, force_dump);
  }

  std::vector<std::pair<uint64_t, bool>> received() {
    std::lock_guard<std::mutex> guard{mtx};
    return calls;
  }

  std::mutex mtx;
  std::vector<std::pair<uint64_t, bool>> calls;
};

kv_query_actor::behavior_type fake_kv(kv_query_actor::pointer,
                                      std::shared_ptr<fake_kv_script> script) {
  return {
    [script](kv_query_atom, uint64_t after, bool force_dump) -> caf::result<kv_replay> {
      script->record(after, force_dump);
      if (script->error)
        return script->error;
      return script->reply;
    },
  };
}

/// The outcome of one query.
struct query_result {
  std::optional<kv_replay> replay;
  caf::error error;
};

/// A server plane and a client plane on the test runtime's actor system, over loopback TCP,
/// both with the generate and kv bindings (as launch::default_bindings() registers them).
class kv_query_binding_test : public testing::actor_test {
protected:
  kv_query_binding_test() {
    capnp::request_options server_opts;
    server_opts.bindings["generate"] = generate_binding();
    server_opts.bindings["kv"] = kv_query_binding();
    auto server = capnp::make_requests(rt().system(), server_opts);
    EXPECT_TRUE(server) << describe(server.error());
    server_ = std::move(*server);
    capnp::request_options client_opts;
    client_opts.bindings = server_opts.bindings;
    client_opts.resolve = [address = server_->advertised_address()](const instance_endpoint&) {
      return caf::expected<std::string>{address};
    };
    auto client = capnp::make_requests(rt().system(), client_opts);
    EXPECT_TRUE(client) << describe(client.error());
    client_ = std::move(*client);
  }

  ~kv_query_binding_test() override {
    client_.reset();
    server_.reset();
  }

  /// Serves `handler` as the "kv" endpoint of instance `instance` and returns a proxy to it.
  kv_query_actor serve_kv(caf::actor handler, uint64_t instance = 7) {
    instance_endpoint address{endpoint_id{rt().ns(), "worker", "kv"}, instance_id{instance}};
    EXPECT_FALSE(server_->serve(address, std::move(handler)));
    auto proxy = connect_as<kv_query_actor>(*client_, address);
    EXPECT_TRUE(proxy) << describe(proxy.error());
    return proxy ? *proxy : kv_query_actor{};
  }

  /// Sends one query to `kv` and waits for the answer.
  query_result query(const kv_query_actor& kv, uint64_t after, bool force_dump) {
    query_result result;
    self()
      ->request(kv, actor_timeout, kv_query_atom::value, after, force_dump)
      .receive([&result](kv_replay& r) { result.replay = std::move(r); },
               [&result](caf::error& err) { result.error = std::move(err); });
    return result;
  }

  std::unique_ptr<request_plane> server_;
  std::unique_ptr<request_plane> client_;
};

TEST_F(kv_query_binding_test, every_field_of_query_and_replay_survives_the_wire) {
  auto script = std::make_shared<fake_kv_script>();
  script->reply.full_dump = true;
  script->reply.last_event_id = 0xfedcba9876543210u;
  // The batch is opaque bytes: NULs, high bytes and a size beyond one segment pass unchanged.
  script->reply.batch = std::string("{\0\xff}", 4) + std::string(3 << 20, 'x');
  auto proxy = serve_kv(caf::actor_cast<caf::actor>(own(rt().system().spawn(fake_kv, script))));
  ASSERT_TRUE(proxy);
  auto got = query(proxy, 0x0123456789abcdefu, true);
  ASSERT_TRUE(got.replay) << describe(got.error);
  EXPECT_TRUE(got.replay->full_dump);
  EXPECT_EQ(got.replay->last_event_id, 0xfedcba9876543210u);
  EXPECT_EQ(got.replay->batch.size(), script->reply.batch.size());
  EXPECT_TRUE(got.replay->batch == script->reply.batch);
  script->reply = kv_replay{false, 5, ""};
  auto second = query(proxy, 4, false);
  ASSERT_TRUE(second.replay) << describe(second.error);
  EXPECT_FALSE(second.replay->full_dump);
  EXPECT_EQ(second.replay->last_event_id, 5u);
  EXPECT_TRUE(second.replay->batch.empty());
  EXPECT_EQ(script->received(), (std::vector<std::pair<uint64_t, bool>>{
                                  {0x0123456789abcdefu, true}, {4, false}}));
}

TEST_F(kv_query_binding_test, an_error_reply_keeps_its_class_message_and_detail) {
  auto script = std::make_shared<fake_kv_script>();
  script->error = make_error(errc::internal, "the worker's KV dump is too large to send",
                             "2000000 stored events exceed the batch limit of 1048576");
  auto proxy = serve_kv(caf::actor_cast<caf::actor>(own(rt().system().spawn(fake_kv, script))));
  ASSERT_TRUE(proxy);
  auto got = query(proxy, 1, false);
  EXPECT_FALSE(got.replay);
  EXPECT_EQ(classify(got.error), errc::internal) << describe(got.error);
  EXPECT_EQ(client_message(got.error), "the worker's KV dump is too large to send");
  EXPECT_EQ(operator_detail(got.error),
            "2000000 stored events exceed the batch limit of 1048576");
}

TEST_F(kv_query_binding_test, a_message_outside_the_interface_is_refused) {
  auto script = std::make_shared<fake_kv_script>();
  auto proxy = serve_kv(caf::actor_cast<caf::actor>(own(rt().system().spawn(fake_kv, script))));
  ASSERT_TRUE(proxy);
  caf::error error;
  self()
    ->request(caf::actor_cast<caf::actor>(proxy), actor_timeout, kv_query_atom::value,
              uint64_t{1})
    .receive([](kv_replay&) { ADD_FAILURE() << "a malformed query got an answer"; },
             [&error](caf::error& err) { error = std::move(err); });
  EXPECT_EQ(classify(error), errc::invalid_request) << describe(error);
  EXPECT_TRUE(script->received().empty()) << "nothing reaches the handler";
}

TEST_F(kv_query_binding_test, a_worker_answers_the_same_through_the_wire_as_in_process) {
  auto ctx = testing::make_context(rt(), "worker");
  worker_config cfg;
  cfg.model = "test-model";
  cfg.mocker.speedup_ratio = 1000;
  cfg.scheduler.total_kv_blocks = 256;
  auto worker = caf::actor_cast<worker_actor>(own(mocker_worker::spawn(ctx, cfg)));
  ASSERT_TRUE(worker);
  auto req = testing::make_request(1, 64, 2);
  auto handle = self()->request(worker, actor_timeout, generate_atom::value, req, sink());
  testing::receive_stream(self(), req.id);
  auto reply = testing::await_reply(handle);
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  auto proxy = serve_kv(caf::actor_cast<caf::actor>(worker), ctx.instance.value);
  ASSERT_TRUE(proxy);
  auto local = query(caf::actor_cast<kv_query_actor>(worker), 0, false);
  auto remote = query(proxy, 0, false);
  ASSERT_TRUE(local.replay) << describe(local.error);
  ASSERT_TRUE(remote.replay) << describe(remote.error);
  EXPECT_EQ(remote.replay->full_dump, local.replay->full_dump);
  EXPECT_EQ(remote.replay->last_event_id, local.replay->last_event_id);
  EXPECT_EQ(remote.replay->batch, local.replay->batch);
  auto dump = query(proxy, 0, true);
  ASSERT_TRUE(dump.replay) << describe(dump.error);
  EXPECT_TRUE(dump.replay->full_dump);
  auto batch = kv_router::decode_batch(dump.replay->batch);
  ASSERT_TRUE(batch) << describe(batch.error());
  EXPECT_EQ(batch->worker, ctx.instance.value);
  size_t blocks = 0;
  for (const auto& ev : batch->events)
    blocks += ev.block_hashes.size();
  EXPECT_EQ(blocks, 4u) << "the 64-token prompt fills four blocks of 16 tokens";
}

} // namespace
} // namespace dynamo::actors::wire
