#include "dynamo/actors/wire/prefill_binding.hpp"

#include "dynamo/actors/wire/generate_binding.hpp"
#include "dynamo/capnp/requests.hpp"
#include "dynamo/error.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <capnp/message.h>

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace dynamo::actors::wire {
namespace {

using testing::actor_timeout;

/// What a fake prefill endpoint answers, and what it received. Thread-safe.
struct fake_prefill_script {
  remote_prefill_result reply;
  caf::error error;   ///< Replied instead of `reply` when set.
  bool hold = false;  ///< Never reply: wait for a cancel (then reply cancelled).

  std::mutex mtx;
  std::vector<remote_prefill_request> requests;
  std::vector<std::pair<request_id, cancel_kind>> cancels;

  std::vector<remote_prefill_request> received() {
    std::lock_guard<std::mutex> guard{mtx};
    return requests;
  }
  std::vector<std::pair<request_id, cancel_kind>> cancelled() {
    std::lock_guard<std::mutex> guard{mtx};
    return cancels;
  }
};

struct fake_prefill_state {
  std::optional<caf::typed_response_promise<remote_prefill_result>> held;
  static inline const char* name = "fake_prefill";
};

prefill_actor::behavior_type fake_prefill(prefill_actor::stateful_pointer<fake_prefill_state> self,
                                          std::shared_ptr<fake_prefill_script> script) {
  return {
    [self, script](prefill_atom,
                   remote_prefill_request& req) -> caf::result<remote_prefill_result> {
      {
        std::lock_guard<std::mutex> guard{script->mtx};
        script->requests.push_back(req);
      }
      if (script->hold) {
        self->state.held = self->make_response_promise<remote_prefill_result>();
        return *self->state.held;
      }
      if (script->error)
        return script->error;
      return script->reply;
    },
    [self, script](cancel_atom, request_id id, cancel_kind kind) {
      {
        std::lock_guard<std::mutex> guard{script->mtx};
        script->cancels.emplace_back(id, kind);
      }
      if (self->state.held) {
        self->state.held->deliver(make_error(errc::cancelled, "the request was cancelled"));
        self->state.held.reset();
      }
    },
  };
}

struct prefill_reply {
  std::optional<remote_prefill_result> result;
  caf::error error;
};

/// A server plane and a client plane over loopback TCP with the generate and prefill bindings
/// (as launch::default_bindings() registers them).
class prefill_binding_test : public testing::actor_test {
protected:
  prefill_binding_test() {
    capnp::request_options server_opts;
    server_opts.bindings["generate"] = generate_binding();
    server_opts.bindings["prefill"] = prefill_binding();
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

  ~prefill_binding_test() override {
    client_.reset();
    server_.reset();
  }

  /// Serves a fake with `script` as the "prefill" endpoint and returns a proxy to it.
  prefill_actor serve_fake(std::shared_ptr<fake_prefill_script> script) {
    auto fake = own(rt().system().spawn(fake_prefill, std::move(script)));
    instance_endpoint address{endpoint_id{rt().ns(), "prefill", "prefill"}, instance_id{9}};
    EXPECT_FALSE(server_->serve(address, caf::actor_cast<caf::actor>(fake)));
    auto proxy = connect_as<prefill_actor>(*client_, address);
    EXPECT_TRUE(proxy) << describe(proxy.error());
    return proxy ? *proxy : prefill_actor{};
  }

  prefill_reply ask(const prefill_actor& hdl, const remote_prefill_request& req) {
    prefill_reply reply;
    self()
      ->request(hdl, actor_timeout, prefill_atom::value, req)
      .receive([&reply](remote_prefill_result& r) { reply.result = r; },
               [&reply](caf::error& err) { reply.error = std::move(err); });
    return reply;
  }

  std::unique_ptr<request_plane> server_;
  std::unique_ptr<request_plane> client_;
};

remote_prefill_request sample_request() {
  remote_prefill_request req;
  req.request = testing::make_request(0xabcdef0123456789u, 40, 7);
  req.request.sampling.temperature = 0.5f;
  req.request.sampling.seed = 99;
  req.request.stop.stop_token_ids = {2, 3};
  req.decode_component = "decode";
  req.decode_instance = 0xfedcba9876543210u;
  req.blocks = {7, 0, 4294967295u};
  req.cached_tokens = 16;
  return req;
}

TEST_F(prefill_binding_test, every_field_of_request_and_result_survives_the_wire) {
  auto script = std::make_shared<fake_prefill_script>();
  script->reply = remote_prefill_result{4242, 16, 1ull << 40, 1234, 5678, 0x1122334455667788u,
                                        91011};
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  auto req = sample_request();
  auto got = ask(proxy, req);
  ASSERT_TRUE(got.result) << describe(got.error);
  EXPECT_EQ(got.result->first_token, 4242u);
  EXPECT_EQ(got.result->prefill_cached_tokens, 16u);
  EXPECT_EQ(got.result->bytes, 1ull << 40);
  EXPECT_EQ(got.result->prefill_us, 1234u);
  EXPECT_EQ(got.result->transfer_us, 5678u);
  EXPECT_EQ(got.result->prefill_worker, 0x1122334455667788u);
  EXPECT_EQ(got.result->queue_us, 91011u);
  auto received = script->received();
  ASSERT_EQ(received.size(), 1u);
  const auto& in = received.front();
  EXPECT_EQ(in.request.id, req.request.id);
  EXPECT_EQ(in.request.tokens, req.request.tokens);
  EXPECT_EQ(in.request.sampling.temperature, 0.5f);
  EXPECT_EQ(in.request.sampling.seed, std::optional<uint64_t>{99});
  EXPECT_EQ(in.request.stop.max_tokens, 7u);
  EXPECT_EQ(in.request.stop.stop_token_ids, req.request.stop.stop_token_ids);
  EXPECT_EQ(in.decode_component, "decode");
  EXPECT_EQ(in.decode_instance, req.decode_instance);
  EXPECT_EQ(in.blocks, req.blocks);
  EXPECT_EQ(in.cached_tokens, 16u);
}

TEST_F(prefill_binding_test, an_error_reply_keeps_its_class_message_and_detail) {
  auto script = std::make_shared<fake_prefill_script>();
  script->error = make_error(errc::not_found, "the decode replica is unknown",
                             "no discovery record dynamo/decode/00000000000000d0");
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  auto got = ask(proxy, sample_request());
  EXPECT_FALSE(got.result);
  EXPECT_EQ(classify(got.error), errc::not_found) << describe(got.error);
  EXPECT_EQ(client_message(got.error), "the decode replica is unknown");
  EXPECT_EQ(operator_detail(got.error), "no discovery record dynamo/decode/00000000000000d0");
}

TEST_F(prefill_binding_test, a_cancel_reaches_the_handler_and_ends_the_call) {
  auto script = std::make_shared<fake_prefill_script>();
  script->hold = true;
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  auto req = sample_request();
  auto handle = self()->request(proxy, actor_timeout, prefill_atom::value, req);
  DYNAMO_EXPECT_EVENTUALLY(script->received().size() == 1, actor_timeout,
                           "the held request reaching the handler");
  caf::anon_send(proxy, cancel_atom::value, req.request.id, cancel_kind::stop_generating);
  prefill_reply reply;
  handle.receive([&reply](remote_prefill_result& r) { reply.result = r; },
                 [&reply](caf::error& err) { reply.error = std::move(err); });
  EXPECT_FALSE(reply.result);
  EXPECT_EQ(classify(reply.error), errc::cancelled) << describe(reply.error);
  auto cancels = script->cancelled();
  ASSERT_FALSE(cancels.empty());
  EXPECT_EQ(cancels.front(), std::make_pair(req.request.id, cancel_kind::stop_generating));
}

TEST_F(prefill_binding_test, a_message_outside_the_interface_is_refused) {
  auto script = std::make_shared<fake_prefill_script>();
  auto proxy = serve_fake(script);
  ASSERT_TRUE(proxy);
  caf::error error;
  self()
    ->request(caf::actor_cast<caf::actor>(proxy), actor_timeout, prefill_atom::value,
              uint64_t{1})
    .receive([](remote_prefill_result&) { ADD_FAILURE() << "a malformed call got an answer"; },
             [&error](caf::error& err) { error = std::move(err); });
  EXPECT_EQ(classify(error), errc::invalid_request) << describe(error);
  EXPECT_TRUE(script->received().empty()) << "nothing reaches the handler";
}

TEST(prefill_codec, malformed_wire_data_is_refused) {
  ::capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::RemotePrefillRequest>();
  auto missing = decode(root.asReader());
  ASSERT_FALSE(missing);
  EXPECT_EQ(classify(missing.error()), errc::invalid_request) << "a request without a request";
  encode(sample_request(), root);
  auto ok = decode(root.asReader());
  ASSERT_TRUE(ok) << describe(ok.error());
  wire_limits tight;
  tight.max_tokens = 2;
  auto too_many = decode(root.asReader(), tight);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(classify(too_many.error()), errc::invalid_request);
  root.getRequest().setTemperature(-1.0f);
  auto bad_sampling = decode(root.asReader());
  ASSERT_FALSE(bad_sampling);
  EXPECT_EQ(classify(bad_sampling.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::actors::wire
