#include "dynamo/actors/wire/generate_binding.hpp"

#include "dynamo/actors/messages.hpp"
#include "dynamo/capnp/requests.hpp"
#include "dynamo/error.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>

using namespace std::chrono_literals;

namespace dynamo::actors::wire {
namespace {

using testing::fake_ending;
using testing::fake_generate_script;

int64_t unix_ms_in(std::chrono::milliseconds delta) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           (std::chrono::system_clock::now() + delta).time_since_epoch())
    .count();
}

/// A server plane and a client plane on the test runtime's actor system, over loopback TCP.
class generate_binding_test : public testing::actor_test {
protected:
  generate_binding_test() {
    capnp::request_options server_opts;
    server_opts.bindings["generate"] = generate_binding();
    auto server = capnp::make_requests(rt().system(), server_opts);
    EXPECT_TRUE(server) << describe(server.error());
    server_ = std::move(*server);
    capnp::request_options client_opts;
    client_opts.bindings["generate"] = generate_binding();
    client_opts.resolve = [address = server_->advertised_address()](const instance_endpoint&) {
      return caf::expected<std::string>{address};
    };
    auto client = capnp::make_requests(rt().system(), client_opts);
    EXPECT_TRUE(client) << describe(client.error());
    client_ = std::move(*client);
  }

  ~generate_binding_test() override {
    client_.reset();
    server_.reset();
  }

  /// Serves a fake with `script` and returns a proxy to it.
  generate_actor serve_fake(fake_generate_script script) {
    auto fake = own(testing::spawn_fake_generate(rt().system(), "fake", std::move(script), log_));
    instance_endpoint address{endpoint_id{"ns", "worker", "generate"}, instance_id{7}};
    EXPECT_FALSE(server_->serve(address, caf::actor_cast<caf::actor>(fake)));
    auto proxy = connect_as<generate_actor>(*client_, address);
    EXPECT_TRUE(proxy) << describe(proxy.error());
    return proxy ? *proxy : generate_actor{};
  }

  std::shared_ptr<testing::fake_generate_log> log_
    = std::make_shared<testing::fake_generate_log>();
  std::unique_ptr<request_plane> server_;
  std::unique_ptr<request_plane> client_;
};

TEST_F(generate_binding_test, every_field_of_request_chunks_and_summary_survives_the_wire) {
  fake_generate_script script;
  script.chunks = {token_chunk{{1, 2, 3}, engine::finish_reason::none, 5, 2},
                   token_chunk{{4}, engine::finish_reason::none, 5, 2},
                   token_chunk{{5, 6}, engine::finish_reason::length, 5, 2}};
  script.instance = 0xfeedbeef;
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  generate_request req;
  req.id = 42;
  req.model = "mock-model";
  req.tokens = {10, 20, 30, 40, 50};
  req.sampling.temperature = 0.5f;
  req.sampling.top_p = 0.75f;
  req.sampling.top_k = 40;
  req.sampling.seed = 1234;
  req.stop.max_tokens = 6;
  req.stop.stop_token_ids = {99, 100};
  req.stop.ignore_eos = true;
  req.deadline_unix_ms = unix_ms_in(60s);
  req.prefill_worker = 0x8000000000000001;
  auto handle = self()->request(proxy, 5s, generate_atom::value, req, sink());
  auto stream = testing::receive_stream(self(), req.id);
  auto reply = testing::await_reply(handle);
  ASSERT_TRUE(stream.ended);
  EXPECT_EQ(stream.tokens(), (std::vector<engine::token_id>{1, 2, 3, 4, 5, 6}));
  ASSERT_FALSE(stream.chunks.empty());
  EXPECT_EQ(stream.chunks.back().finish, engine::finish_reason::length);
  EXPECT_EQ(stream.chunks.back().prompt_tokens, 5u);
  EXPECT_EQ(stream.chunks.back().cached_prompt_tokens, 2u);
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  EXPECT_EQ(reply.summary->worker_instance, 0xfeedbeefu);
  EXPECT_EQ(reply.summary->prompt_tokens, 5u);
  EXPECT_EQ(reply.summary->completion_tokens, 6u);
  EXPECT_EQ(reply.summary->finish, engine::finish_reason::length);
  auto calls = log_->calls();
  ASSERT_EQ(calls.size(), 1u);
  const auto& got = calls[0].request;
  EXPECT_EQ(got.id, req.id);
  EXPECT_EQ(got.model, req.model);
  EXPECT_EQ(got.tokens, req.tokens);
  EXPECT_EQ(got.sampling.temperature, req.sampling.temperature);
  EXPECT_EQ(got.sampling.top_p, req.sampling.top_p);
  EXPECT_EQ(got.sampling.top_k, req.sampling.top_k);
  EXPECT_EQ(got.sampling.seed, req.sampling.seed);
  EXPECT_EQ(got.stop.max_tokens, req.stop.max_tokens);
  EXPECT_EQ(got.stop.stop_token_ids, req.stop.stop_token_ids);
  EXPECT_EQ(got.stop.ignore_eos, req.stop.ignore_eos);
  EXPECT_EQ(got.deadline_unix_ms, req.deadline_unix_ms);
  EXPECT_EQ(got.prefill_worker, req.prefill_worker);
}

/// A sink that counts its stream's ends and quits as soon as the stream ended (like the KV
/// router's first-token tap after it forwarded the end).
token_sink_actor::behavior_type quit_on_end(token_sink_actor::pointer self,
                                            std::shared_ptr<std::atomic<int>> ends) {
  return {
    [](stream_item_atom, request_id, token_chunk&) {},
    [self, ends](stream_end_atom, request_id) {
      ++*ends;
      self->quit();
    },
    [self](stream_fail_atom, request_id, caf::error&) { self->quit(); },
  };
}

TEST_F(generate_binding_test, a_sink_that_quits_after_its_stream_ended_does_not_cancel_the_call) {
  fake_generate_script script;
  script.chunks = {token_chunk{{1, 2}, engine::finish_reason::length, 0, 0}};
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  // The sink's exit races with the reply on the client's loop; repeat so that the race is hit.
  auto ends = std::make_shared<std::atomic<int>>(0);
  for (request_id id = 1; id <= 100; ++id) {
    auto relay = rt().system().spawn(quit_on_end, ends);
    auto handle = self()->request(proxy, 5s, generate_atom::value, testing::make_request(id),
                                  token_sink_actor{relay});
    auto reply = testing::await_reply(handle);
    ASSERT_TRUE(reply.summary) << "call " << id << ": " << describe(reply.error);
    EXPECT_EQ(reply.summary->completion_tokens, 2u);
  }
  EXPECT_EQ(ends->load(), 100);
  EXPECT_TRUE(log_->cancellations().empty()) << "a call was cancelled after its stream ended";
}

TEST_F(generate_binding_test, an_error_reply_keeps_its_class_message_and_detail) {
  fake_generate_script script;
  script.ending = fake_ending::reply_error;
  script.error = make_error(errc::overloaded, "the worker is busy", "queue full (64)");
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  auto req = testing::make_request(3);
  auto handle = self()->request(proxy, 5s, generate_atom::value, req, sink());
  auto reply = testing::await_reply(handle);
  EXPECT_EQ(classify(reply.error), errc::overloaded);
  EXPECT_EQ(client_message(reply.error), "the worker is busy");
  EXPECT_EQ(operator_detail(reply.error), "queue full (64)");
  auto stream = testing::receive_stream(self(), req.id);
  ASSERT_TRUE(stream.failure) << "the open stream fails with the reply's error";
  EXPECT_EQ(classify(*stream.failure), errc::overloaded);
}

TEST_F(generate_binding_test, stop_generating_travels_to_the_handler_and_ends_the_stream) {
  fake_generate_script script;
  script.chunks = {token_chunk{{7}, engine::finish_reason::none, 0, 0}};
  script.ending = fake_ending::hold;
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  auto req = testing::make_request(9);
  auto handle = self()->request(proxy, 5s, generate_atom::value, req, sink());
  ASSERT_TRUE(testing::receive_chunk(self(), req.id));
  self()->send(proxy, cancel_atom::value, req.id, cancel_kind::stop_generating);
  auto stream = testing::receive_stream(self(), req.id);
  auto reply = testing::await_reply(handle);
  EXPECT_TRUE(stream.ended);
  ASSERT_FALSE(stream.chunks.empty());
  EXPECT_EQ(stream.chunks.back().finish, engine::finish_reason::cancelled);
  ASSERT_TRUE(reply.summary) << describe(reply.error);
  EXPECT_EQ(reply.summary->finish, engine::finish_reason::cancelled);
  auto cancels = log_->cancellations();
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].id, req.id);
  EXPECT_EQ(cancels[0].kind, cancel_kind::stop_generating);
}

TEST_F(generate_binding_test, a_passed_deadline_fails_the_call_and_kills_it_remotely) {
  fake_generate_script script;
  script.ending = fake_ending::hold;
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  auto req = testing::make_request(11);
  req.deadline_unix_ms = unix_ms_in(150ms);
  auto started = std::chrono::steady_clock::now();
  auto handle = self()->request(proxy, 5s, generate_atom::value, req, sink());
  auto stream = testing::receive_stream(self(), req.id);
  auto reply = testing::await_reply(handle);
  ASSERT_TRUE(stream.failure);
  EXPECT_EQ(classify(*stream.failure), errc::deadline_exceeded);
  EXPECT_EQ(classify(reply.error), errc::deadline_exceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  auto killed = [this, id = req.id] {
    for (const auto& c : log_->cancellations())
      if (c.id == id && c.kind == cancel_kind::kill)
        return true;
    return false;
  };
  DYNAMO_EXPECT_EVENTUALLY(killed(), 2000ms,
                           "the handler gets cancel(kill) for a call whose deadline passed");
}

TEST_F(generate_binding_test, a_request_past_its_deadline_fails_at_once) {
  auto proxy = serve_fake({});
  ASSERT_TRUE(proxy);
  auto req = testing::make_request(12);
  req.deadline_unix_ms = unix_ms_in(-10ms);
  auto handle = self()->request(proxy, 5s, generate_atom::value, req, sink());
  auto reply = testing::await_reply(handle);
  EXPECT_EQ(classify(reply.error), errc::deadline_exceeded);
  auto stream = testing::receive_stream(self(), req.id);
  ASSERT_TRUE(stream.failure);
  EXPECT_EQ(classify(*stream.failure), errc::deadline_exceeded);
}

} // namespace
} // namespace dynamo::actors::wire
