// The frontend tested alone: a real frontend on a free port sends to a FAKE generate component
// (announced under "fakegen", the component the frontend targets); a fake registration makes
// the model "m" known. The test talks HTTP to the frontend and scripts the fake's answers.
#include "dynamo/actors/frontend/frontend.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/wait.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <string>

namespace dynamo::actors {
namespace {

using dynamo::testing::ask_stats;
using dynamo::testing::actor_timeout;
using dynamo::testing::fake_ending;
using dynamo::testing::fake_generate_log;
using dynamo::testing::fake_generate_script;
using dynamo::testing::http_client;
using dynamo::testing::http_response;
using dynamo::testing::parse_sse_data;
using dynamo::testing::text_chunk;
using dynamo::testing::wait_until;
using nlohmann::json;

/// A chat request for model "m".
std::string chat_body(bool stream, uint32_t max_tokens = 5, json extra = json::object()) {
  json body{{"model", "m"},
            {"messages", json::array({json{{"role", "user"}, {"content", "hi"}}})},
            {"max_tokens", max_tokens},
            {"stream", stream}};
  body.update(extra);
  return body.dump();
}

class frontend_test : public dynamo::testing::actor_test {
protected:
  /// Announces the fake with `script`, registers model "m" and starts the frontend on a free
  /// port; returns once the frontend knows the fake and the model.
  void start(fake_generate_script script,
             std::chrono::milliseconds request_timeout = std::chrono::minutes{10}) {
    fake_ = dynamo::testing::announce_fake(rt(), "fakegen", "fakegen", std::move(script), log_);
    own(fake_.handle);
    discovery_record model{{rt().ns(), "fakeworker"}, rt().next_instance_id(), {{"model", "m"}}};
    auto lease = rt().discovery().register_instance(model, lease_options{});
    ASSERT_TRUE(lease) << describe(lease.error());
    model_lease_ = *lease;
    auto ctx = dynamo::testing::make_context(rt(), "frontend",
                                             {{"fakegen", "generate", "generate"}});
    frontend_config cfg;
    cfg.port = 0;
    cfg.request_timeout = request_timeout;
    auto hdl = frontend::spawn(ctx, cfg);
    ASSERT_TRUE(hdl) << "the frontend did not start";
    frontend_ = caf::actor_cast<frontend_actor>(hdl);
    ASSERT_TRUE(wait_until(
      [&] {
        auto s = stats();
        return s.targets == 1 && s.models == std::vector<std::string>{"m"};
      },
      actor_timeout))
      << "timed out waiting for the frontend to see the fake and model 'm'";
    auto recs = rt().discovery().list(rt().ns() + "/frontend/");
    ASSERT_EQ(recs.size(), 1u);
    auto address = recs.front().metadata["http_address"];
    auto colon = address.rfind(':');
    ASSERT_NE(colon, std::string::npos) << address;
    std::from_chars(address.data() + colon + 1, address.data() + address.size(), port_);
    ASSERT_NE(port_, 0) << address;
  }

  void TearDown() override {
    // Drain at once: the frontend ends every request handler still waiting for the fake.
    if (frontend_)
      self()
        ->request(frontend_, actor_timeout, drain_atom::value, uint32_t{0})
        .receive([](drain_report&) {},
                 [](caf::error& err) { ADD_FAILURE() << "drain failed: " << describe(err); });
  }

  frontend_stats stats() {
    return ask_stats<frontend_stats>(self(), frontend_);
  }

  /// A connected client (fails the test and returns nullopt when the frontend is unreachable).
  std::optional<http_client> client() {
    auto c = http_client::connect("127.0.0.1", port_);
    if (!c) {
      ADD_FAILURE() << "cannot connect to port " << port_ << ": " << describe(c.error());
      return std::nullopt;
    }
    return std::move(*c);
  }

  /// POSTs a chat completion and returns the whole response.
  http_response post_chat(bool stream, const std::string& body = {}) {
    auto c = client();
    if (!c)
      return {};
    auto res = c->request("POST", "/v1/chat/completions", body.empty() ? chat_body(stream) : body,
                          {{"Content-Type", "application/json"}});
    if (!res) {
      ADD_FAILURE() << "request failed: " << describe(res.error());
      return {};
    }
    return std::move(*res);
  }

  /// POSTs a completion and returns the whole response.
  http_response post_completion(const json& body) {
    auto c = client();
    if (!c)
      return {};
    auto res = c->request("POST", "/v1/completions", body.dump(),
                          {{"Content-Type", "application/json"}});
    if (!res) {
      ADD_FAILURE() << "request failed: " << describe(res.error());
      return {};
    }
    return std::move(*res);
  }

  std::shared_ptr<fake_generate_log> log_ = std::make_shared<fake_generate_log>();
  dynamo::testing::announced_fake fake_;
  frontend_actor frontend_;
  uint16_t port_ = 0;
  lease_id model_lease_ = 0;
};

TEST_F(frontend_test, malformed_registrations_are_skipped) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("x", engine::finish_reason::length)}, fake_ending::end}));
  auto reg = [this](std::map<std::string, std::string> metadata) {
    discovery_record rec{{rt().ns(), "fakeworker"}, rt().next_instance_id(), std::move(metadata)};
    auto lease = rt().discovery().register_instance(rec, lease_options{});
    EXPECT_TRUE(lease) << describe(lease.error());
  };
  // Delivered in registration order: once "n" is known, the malformed record was seen before.
  reg({{"model", "bad"}, {"kv_block_size", "sixteen"}});
  reg({{"model", "n"}, {"kv_block_size", "16"}});
  EXPECT_TRUE(wait_until([&] { return stats().models == std::vector<std::string>{"m", "n"}; },
                         actor_timeout))
    << "timed out waiting for models m and n (and never 'bad', whose record is malformed)";
  // A good record replaced by a malformed one: its model is no longer served.
  ASSERT_FALSE(rt().discovery().update(model_lease_, {{"model", "m"}, {"endpoints", "g@0"}}));
  EXPECT_TRUE(wait_until([&] { return stats().models == std::vector<std::string>{"n"}; },
                         actor_timeout))
    << "timed out waiting for model 'm' to go with its now malformed record";
}

TEST_F(frontend_test, a_completed_stream_becomes_one_response_with_usage) {
  ASSERT_NO_FATAL_FAILURE(start(
    {{text_chunk("Hel"), text_chunk("lo", engine::finish_reason::length)}, fake_ending::end}));
  auto res = post_chat(false);
  ASSERT_EQ(res.status, 200) << res.body;
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "length");
  auto calls = log_->calls();
  ASSERT_EQ(calls.size(), 1u);
  const auto& req = calls.front().request;
  EXPECT_EQ(req.model, "m");
  EXPECT_EQ(req.stop.max_tokens, 5u);
  EXPECT_GT(req.deadline_unix_ms, 0);
  auto prompt = req.tokens.size();
  ASSERT_GT(prompt, 0u);
  EXPECT_EQ(doc["usage"]["prompt_tokens"], prompt);
  EXPECT_EQ(doc["usage"]["completion_tokens"], 5);
  EXPECT_EQ(doc["usage"]["total_tokens"], prompt + 5);
}

TEST_F(frontend_test, a_stream_that_fails_midway_sends_an_error_event_then_done) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("Hel")},
                                 fake_ending::fail,
                                 make_error(errc::overloaded, "the worker is overloaded")}));
  auto res = post_chat(true);
  ASSERT_EQ(res.status, 200) << "the stream had started before the failure";
  auto events = parse_sse_data(res.body);
  ASSERT_GE(events.size(), 3u) << res.body;
  EXPECT_EQ(events.back(), "[DONE]");
  auto first = json::parse(events.front());
  EXPECT_EQ(first["choices"][0]["delta"]["content"], "Hel");
  auto err = json::parse(events[events.size() - 2]);
  ASSERT_TRUE(err.contains("error")) << events[events.size() - 2];
  EXPECT_EQ(err["error"]["code"], "overloaded");
  EXPECT_EQ(err["error"]["message"], "the worker is overloaded");
}

TEST_F(frontend_test, overloaded_at_once_is_503_with_retry_after) {
  ASSERT_NO_FATAL_FAILURE(
    start({{}, fake_ending::reply_error, make_error(errc::overloaded, "the queue is full")}));
  auto res = post_chat(false);
  EXPECT_EQ(res.status, 503) << res.body;
  EXPECT_FALSE(res.header("Retry-After").empty()) << "an overloaded answer says when to retry";
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["error"]["code"], "overloaded");
}

TEST_F(frontend_test, invalid_request_is_400_without_the_operator_detail) {
  ASSERT_NO_FATAL_FAILURE(
    start({{},
           fake_ending::reply_error,
           make_error(errc::invalid_request, "the prompt is too long for this model",
                      "engine: kv pool of 1024 blocks exhausted (secret-7f3a)")}));
  auto res = post_chat(false);
  EXPECT_EQ(res.status, 400) << res.body;
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["error"]["message"], "the prompt is too long for this model");
  EXPECT_EQ(res.body.find("secret-7f3a"), std::string::npos)
    << "the operator detail must not reach the client: " << res.body;
  EXPECT_EQ(res.body.find("kv pool"), std::string::npos) << res.body;
}

TEST_F(frontend_test, a_client_disconnect_mid_stream_kills_the_downstream_request) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("Hel")}, fake_ending::hold}));
  auto c = client();
  ASSERT_TRUE(c);
  ASSERT_FALSE(c->send_request("POST", "/v1/chat/completions", chat_body(true, 100),
                               {{"Content-Type", "application/json"}}));
  auto head = c->read_head();
  ASSERT_TRUE(head) << describe(head.error());
  ASSERT_EQ(head->status, 200);
  auto first = c->read_until("\n\n");
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_NE(first->find("Hel"), std::string::npos) << *first;
  c->abort(true);
  auto calls = log_->calls();
  ASSERT_EQ(calls.size(), 1u);
  auto id = calls.front().request.id;
  ASSERT_TRUE(wait_until([&] { return !log_->cancellations().empty(); }, actor_timeout))
    << "timed out waiting for the fake to receive cancel(" << id << ", kill)";
  auto cancels = log_->cancellations();
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels.front().id, id);
  EXPECT_EQ(cancels.front().kind, cancel_kind::kill);
  EXPECT_TRUE(wait_until([&] { return stats().active_requests == 0; }, actor_timeout))
    << "timed out waiting for the request handler to end";
}

TEST_F(frontend_test, utf8_split_across_chunks_arrives_intact) {
  // U+1F600 is F0 9F 98 80: its bytes arrive in two chunks.
  ASSERT_NO_FATAL_FAILURE(start(
    {{text_chunk("A\xF0\x9F"), text_chunk("\x98\x80" "B", engine::finish_reason::length)},
     fake_ending::end}));
  auto res = post_chat(true);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(tokenizer::is_valid_utf8(res.body)) << "the SSE body must be valid UTF-8";
  std::string text;
  size_t deltas = 0;
  for (const auto& ev : parse_sse_data(res.body)) {
    if (ev == "[DONE]")
      continue;
    auto doc = json::parse(ev, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << "not JSON: " << ev;
    const auto& delta = doc["choices"][0]["delta"];
    if (!delta.contains("content") || !delta["content"].is_string())
      continue;
    auto piece = delta["content"].get<std::string>();
    EXPECT_TRUE(tokenizer::is_valid_utf8(piece)) << "a delta with broken UTF-8";
    EXPECT_EQ(piece.find(tokenizer::replacement_character), std::string::npos)
      << "a delta with a replacement character";
    text += piece;
    deltas += piece.empty() ? 0 : 1;
  }
  EXPECT_EQ(text, "A\xF0\x9F\x98\x80" "B");
  EXPECT_GE(deltas, 2u) << "the text should arrive in more than one delta";
}

TEST_F(frontend_test, a_stop_string_ends_the_text_and_kills_the_downstream_request) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("Hel"), text_chunk("lo world")}, fake_ending::hold}));
  auto res = post_chat(false, chat_body(false, 50, {{"stop", json::array({"lo"})}}));
  ASSERT_EQ(res.status, 200) << res.body;
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["choices"][0]["message"]["content"], "Hel");
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "stop");
  ASSERT_TRUE(wait_until([&] { return !log_->cancellations().empty(); }, actor_timeout))
    << "timed out waiting for the fake to receive cancel(kill) after the stop string";
  auto cancels = log_->cancellations();
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels.front().id, log_->calls().front().request.id);
  EXPECT_EQ(cancels.front().kind, cancel_kind::kill);
}

TEST_F(frontend_test, a_request_past_its_deadline_is_504_and_killed_downstream) {
  ASSERT_NO_FATAL_FAILURE(start({{}, fake_ending::hold}, std::chrono::milliseconds{200}));
  auto res = post_chat(false);
  EXPECT_EQ(res.status, 504) << res.body;
  ASSERT_TRUE(wait_until([&] { return !log_->cancellations().empty(); }, actor_timeout))
    << "timed out waiting for the fake to receive cancel(kill) at the deadline";
  EXPECT_EQ(log_->cancellations().front().kind, cancel_kind::kill);
}

TEST_F(frontend_test, a_target_whose_handle_dies_leaves_rotation_before_its_lease_ends) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("Hel")}, fake_ending::hold}));
  // A second target served and registered by hand, so that its record outlives its actor (as a
  // remote router's record outlives a broken connection until the lease expires).
  auto dead = dynamo::testing::serve_fake_unannounced(
    rt(), "fakegen", "dead", {{text_chunk("x")}, fake_ending::hold}, log_);
  auto fake_actor = caf::actor_cast<caf::actor>(own(dead.handle));
  ASSERT_TRUE(wait_until([&] { return stats().targets == 2; }, actor_timeout))
    << "timed out waiting for the frontend to know both targets";
  caf::anon_send_exit(fake_actor, caf::exit_reason::kill);
  EXPECT_TRUE(wait_until([&] { return stats().targets == 1; }, actor_timeout))
    << "the dead target stayed in rotation";
  EXPECT_EQ(rt().discovery().list(rt().ns() + "/fakegen/").size(), 2u)
    << "the dead target's record is still listed: it left rotation through its handle";
  EXPECT_FALSE(rt().discovery().revoke(dead.lease));
}

TEST_F(frontend_test, a_generate_component_that_dies_mid_stream_ends_the_response) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("Hel")}, fake_ending::hold}));
  auto c = client();
  ASSERT_TRUE(c);
  ASSERT_FALSE(c->send_request("POST", "/v1/chat/completions", chat_body(true, 100),
                               {{"Content-Type", "application/json"}}));
  auto head = c->read_head();
  ASSERT_TRUE(head) << describe(head.error());
  ASSERT_EQ(head->status, 200);
  ASSERT_TRUE(c->read_until("\n\n"));
  caf::anon_send_exit(fake_.handle, caf::exit_reason::kill);
  auto rest = c->read_body();
  ASSERT_TRUE(rest) << "the response must end when the generate component dies: "
                    << describe(rest.error());
  auto events = parse_sse_data(*rest);
  ASSERT_GE(events.size(), 2u) << *rest;
  EXPECT_EQ(events.back(), "[DONE]");
  auto err = json::parse(events[events.size() - 2], nullptr, false);
  ASSERT_TRUE(!err.is_discarded() && err.contains("error")) << *rest;
  EXPECT_EQ(err["error"]["code"], "backend_disconnected");
}

TEST_F(frontend_test, token_id_prompts_are_sent_verbatim_and_counted) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("ok", engine::finish_reason::length)},
                                 fake_ending::end}));
  // The builtin byte tokenizer would prepend BOS (256) to a text prompt; token ids go as given.
  auto res = post_completion({{"model", "m"}, {"prompt", {72, 105, 257, 0}}, {"max_tokens", 2}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["choices"][0]["text"], "ok");
  EXPECT_EQ(doc["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(doc["usage"]["completion_tokens"], 2);
  auto nested = post_completion({{"model", "m"},
                                 {"prompt", json::array({json::array({7, 8})})},
                                 {"max_tokens", 2},
                                 {"stream", true},
                                 {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(nested.status, 200) << nested.body;
  auto events = parse_sse_data(nested.body);
  ASSERT_GE(events.size(), 3u) << nested.body;
  EXPECT_EQ(events.back(), "[DONE]");
  auto usage = json::parse(events[events.size() - 2]);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 2) << events[events.size() - 2];
  auto calls = log_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].request.tokens, (std::vector<engine::token_id>{72, 105, 257, 0}));
  EXPECT_EQ(calls[1].request.tokens, (std::vector<engine::token_id>{7, 8}));
  EXPECT_EQ(calls[0].request.stop.max_tokens, 2u);
}

TEST_F(frontend_test, router_overrides_travel_with_the_request) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("ok", engine::finish_reason::length)},
                                 fake_ending::end}));
  auto res = post_completion(
    {{"model", "m"},
     {"prompt", "hi"},
     {"max_tokens", 1},
     {"nvext",
      {{"router_config_override", {{"overlap_score_weight", 2.5}, {"router_temperature", 0.5}}}}}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto plain = post_completion({{"model", "m"}, {"prompt", "hi"}, {"max_tokens", 1}});
  ASSERT_EQ(plain.status, 200) << plain.body;
  auto bad = post_completion(
    {{"model", "m"},
     {"prompt", "hi"},
     {"nvext", {{"router_config_override", {{"overlap_score_weight", -1}}}}}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto calls = log_->calls();
  ASSERT_EQ(calls.size(), 2u) << "the invalid override never reached the router";
  EXPECT_EQ(calls[0].request.routing.overlap_weight, 2.5);
  EXPECT_EQ(calls[0].request.routing.temperature, 0.5);
  EXPECT_LT(calls[1].request.routing.overlap_weight, 0.0) << "no override: the router's default";
  EXPECT_LT(calls[1].request.routing.temperature, 0.0);
}

TEST_F(frontend_test, token_ids_outside_the_vocabulary_are_400_naming_the_prompt) {
  ASSERT_NO_FATAL_FAILURE(start({{text_chunk("x", engine::finish_reason::length)},
                                 fake_ending::end}));
  // The builtin byte tokenizer has 258 ids.
  auto res = post_completion({{"model", "m"}, {"prompt", {1, 258}}});
  EXPECT_EQ(res.status, 400) << res.body;
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["error"]["param"], "prompt");
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("'prompt[1]' is 258"),
            std::string::npos)
    << res.body;
  auto parse_error = post_completion({{"model", "m"}, {"prompt", {1, -2}}});
  EXPECT_EQ(parse_error.status, 400) << parse_error.body;
  EXPECT_EQ(json::parse(parse_error.body)["error"]["param"], "prompt");
  EXPECT_TRUE(log_->calls().empty()) << "a rejected prompt must not reach the generate component";
  EXPECT_TRUE(wait_until([&] { return stats().active_requests == 0; }, actor_timeout))
    << "timed out waiting for the rejected request's handler to end";
}

} // namespace
} // namespace dynamo::actors
