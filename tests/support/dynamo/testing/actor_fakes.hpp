// Fakes and helpers for actor-protocol tests: a scripted generate component that speaks the
// same typed interface as a router or a worker (so it can stand in for either), a log of what
// it received, a fixture owning a runtime, and bounded readers of token streams and replies.
// Header-only: dynamo_testing does not link the actors module, the actors' tests do.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/component.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/serving_graph.hpp"

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::testing {

/// How long a test waits for any single message, reply or condition.
inline constexpr std::chrono::milliseconds actor_timeout{5000};

// -- the fake generate component ----------------------------------------------------------------

/// What a fake generate component does after streaming its scripted chunks.
enum class fake_ending : uint8_t {
  end,          ///< Sends s_end, then replies a summary of the chunks.
  fail,         ///< Sends s_fail(error), then replies the error.
  reply_error,  ///< Replies the error and sends nothing more to the sink (a refused admission).
  hold,         ///< Keeps the request open until cancelled: stop_generating sends a final chunk
                ///< (finish cancelled), s_end and a summary; kill sends s_fail(cancelled) and
                ///< replies that error.
};

/// The behaviour of a fake generate component, applied to every request it receives.
struct fake_generate_script {
  std::vector<actors::token_chunk> chunks;  ///< Streamed at once; prompt_tokens 0 = prompt size.
  fake_ending ending = fake_ending::end;
  caf::error error;                          ///< For fail and reply_error.
  uint64_t instance = 0;                     ///< Reported as the summary's worker_instance.
};

/// Everything the fakes of one test received, in arrival order. Thread-safe: the fakes write
/// from actor threads, the test reads from its own.
class fake_generate_log {
public:
  /// A generate request as received by the fake named `fake`.
  struct call {
    std::string fake;
    actors::generate_request request;
  };

  /// A cancel message as received by the fake named `fake`.
  struct cancellation {
    std::string fake;
    request_id id = 0;
    cancel_kind kind = cancel_kind::none;
  };

  /// Records a request. Any thread.
  void record(std::string fake, const actors::generate_request& req) {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back(call{std::move(fake), req});
  }

  /// Records a cancel message. Any thread.
  void record(std::string fake, request_id id, cancel_kind kind) {
    std::lock_guard<std::mutex> guard{mtx_};
    cancels_.push_back(cancellation{std::move(fake), id, kind});
  }

  /// A copy of the requests received so far. Any thread.
  std::vector<call> calls() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return calls_;
  }

  /// A copy of the cancel messages received so far. Any thread.
  std::vector<cancellation> cancellations() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cancels_;
  }

  /// Number of requests received by the fake named `fake`. Any thread.
  size_t calls_to(std::string_view fake) const {
    std::lock_guard<std::mutex> guard{mtx_};
    size_t n = 0;
    for (const auto& c : calls_)
      n += c.fake == fake ? 1 : 0;
    return n;
  }

  /// The name of the fake that received request `id`, or "" if none did. Any thread.
  std::string receiver_of(request_id id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& c : calls_)
      if (c.request.id == id)
        return c.fake;
    return {};
  }

private:
  mutable std::mutex mtx_;
  std::vector<call> calls_;
  std::vector<cancellation> cancels_;
};

namespace detail {

struct held_request {
  actors::token_sink_actor sink;
  caf::typed_response_promise<actors::generate_summary> promise;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
};

struct fake_generate_state {
  std::string label;
  fake_generate_script script;
  std::shared_ptr<fake_generate_log> log;
  std::map<request_id, held_request> held;
  static inline const char* name = "fake_generate";
};

using fake_generate_pointer = actors::generate_actor::stateful_pointer<fake_generate_state>;

inline actors::generate_actor::behavior_type
fake_generate_behavior(fake_generate_pointer self, std::string label, fake_generate_script script,
                       std::shared_ptr<fake_generate_log> log) {
  self->state.label = std::move(label);
  self->state.script = std::move(script);
  self->state.log = std::move(log);
  return {
    [self](actors::generate_atom, actors::generate_request& req,
           actors::token_sink_actor& sink) -> caf::result<actors::generate_summary> {
      auto& st = self->state;
      st.log->record(st.label, req);
      auto prompt = static_cast<uint32_t>(req.tokens.size());
      uint32_t completion = 0;
      auto finish = engine::finish_reason::none;
      for (auto chunk : st.script.chunks) {
        if (chunk.prompt_tokens == 0)
          chunk.prompt_tokens = prompt;
        completion += static_cast<uint32_t>(chunk.tokens.size());
        finish = chunk.finish;
        self->send(sink, stream_item_atom::value, req.id, std::move(chunk));
      }
      switch (st.script.ending) {
        case fake_ending::end:
          self->send(sink, stream_end_atom::value, req.id);
          return actors::generate_summary{st.script.instance, prompt, 0, completion, finish};
        case fake_ending::fail:
          self->send(sink, stream_fail_atom::value, req.id, st.script.error);
          return st.script.error;
        case fake_ending::reply_error:
          return st.script.error;
        case fake_ending::hold:
          break;
      }
      auto promise = self->make_response_promise<actors::generate_summary>();
      st.held.emplace(req.id, held_request{std::move(sink), promise, prompt, completion});
      return promise;
    },
    [self](cancel_atom, request_id id, cancel_kind kind) {
      auto& st = self->state;
      st.log->record(st.label, id, kind);
      auto i = st.held.find(id);
      if (i == st.held.end())
        return;
      auto& h = i->second;
      if (kind == cancel_kind::kill) {
        auto err = make_error(errc::cancelled, "the request was cancelled");
        self->send(h.sink, stream_fail_atom::value, id, err);
        h.promise.deliver(err);
      } else {
        self->send(h.sink, stream_item_atom::value, id,
                   actors::token_chunk{{}, engine::finish_reason::cancelled, h.prompt_tokens, 0});
        self->send(h.sink, stream_end_atom::value, id);
        h.promise.deliver(actors::generate_summary{st.script.instance, h.prompt_tokens, 0,
                                                   h.completion_tokens,
                                                   engine::finish_reason::cancelled});
      }
      st.held.erase(i);
    },
  };
}

} // namespace detail

/// Spawns a fake generate component named `label` (the name it records in `log`). Any thread.
inline actors::generate_actor spawn_fake_generate(caf::actor_system& sys, std::string label,
                                                  fake_generate_script script,
                                                  std::shared_ptr<fake_generate_log> log) {
  return sys.spawn(detail::fake_generate_behavior, std::move(label), std::move(script),
                   std::move(log));
}

/// A chunk of byte tokens (the byte tokenizer's ids) taken from `text`.
inline actors::token_chunk text_chunk(std::string_view text,
                                      engine::finish_reason finish = engine::finish_reason::none) {
  actors::token_chunk chunk;
  for (char c : text)
    chunk.tokens.push_back(static_cast<uint8_t>(c));
  chunk.finish = finish;
  return chunk;
}

// -- contexts and announcement --------------------------------------------------------------------

/// A component context for one replica of `name` in `rt`, with a fresh instance id.
inline component_context make_context(runtime& rt, const std::string& name,
                                      std::vector<edge_target> targets = {}) {
  component_context ctx;
  ctx.rt = &rt;
  ctx.name = name;
  ctx.instance = rt.next_instance_id();
  ctx.log = rt.logger(name, ctx.instance.to_string());
  ctx.targets = std::move(targets);
  return ctx;
}

/// A fake generate component announced in discovery like a real replica.
struct announced_fake {
  actors::generate_actor handle;
  component_context ctx;
  lease_id lease = 0;
};

/// Spawns a fake named `label` and announces it as a replica of `component` (endpoint
/// "generate", registration `metadata`). Fails the current test if announce() fails.
inline announced_fake announce_fake(runtime& rt, const std::string& component, std::string label,
                                    fake_generate_script script,
                                    std::shared_ptr<fake_generate_log> log,
                                    std::map<std::string, std::string> metadata
                                    = {{"endpoints", "generate"}}) {
  announced_fake result;
  result.ctx = make_context(rt, component);
  script.instance = result.ctx.instance.value;
  result.handle = spawn_fake_generate(rt.system(), std::move(label), std::move(script),
                                      std::move(log));
  auto lease = actors::announce(result.ctx, caf::actor_cast<caf::actor>(result.handle),
                                "generate", std::move(metadata));
  if (lease)
    result.lease = *lease;
  else
    ADD_FAILURE() << "cannot announce a fake " << component << ": " << describe(lease.error());
  return result;
}

/// Spawns a fake named `label`, serves it as a replica of `component` (endpoint "generate") and
/// registers that replica in discovery by hand, without announce(): the record outlives the
/// actor, as a remote replica's record outlives a broken connection until its lease ends.
/// The caller revokes `lease`. Fails the current test if serving or registering fails.
inline announced_fake serve_fake_unannounced(runtime& rt, const std::string& component,
                                             std::string label, fake_generate_script script,
                                             std::shared_ptr<fake_generate_log> log) {
  announced_fake result;
  result.ctx = make_context(rt, component);
  script.instance = result.ctx.instance.value;
  result.handle = spawn_fake_generate(rt.system(), std::move(label), std::move(script),
                                      std::move(log));
  if (auto err = rt.requests().serve(result.ctx.address("generate"),
                                     caf::actor_cast<caf::actor>(result.handle)))
    ADD_FAILURE() << "cannot serve a fake " << component << ": " << describe(err);
  discovery_record rec{result.ctx.id(), result.ctx.instance, {{"endpoints", "generate"}}};
  if (auto lease = rt.discovery().register_instance(rec, lease_options{}))
    result.lease = *lease;
  else
    ADD_FAILURE() << "cannot register a fake " << component << ": " << describe(lease.error());
  return result;
}

// -- fixture ----------------------------------------------------------------------------------

/// Owns a runtime (2 threads, warnings only, fixed seed) and a scoped actor that plays client
/// and token sink. Actors passed to own() are killed before the runtime shuts down, so a test
/// that fails half-way still tears down promptly.
class actor_test : public ::testing::Test {
protected:
  /// Builds the runtime and the test's actor.
  actor_test()
    : rt_(std::make_unique<runtime>(serving_graph::test_runtime_config())),
      self_(std::make_unique<caf::scoped_actor>(rt_->system())) {
  }

  /// Kills the owned actors, then shuts the runtime down (waiting for every actor).
  ~actor_test() override {
    for (const auto& hdl : owned_)
      if (hdl)
        caf::anon_send_exit(hdl, caf::exit_reason::kill);
    owned_.clear();
    self_.reset();
    rt_.reset();
  }

  /// The runtime of this test.
  runtime& rt() { return *rt_; }

  /// The test's own actor (client and sink).
  caf::scoped_actor& self() { return *self_; }

  /// The test's actor as a token sink.
  actors::token_sink_actor sink() { return caf::actor_cast<actors::token_sink_actor>(*self_); }

  /// Registers `hdl` to be killed at the end of the test; returns it.
  template <class Handle>
  Handle own(Handle hdl) {
    owned_.push_back(caf::actor_cast<caf::actor>(hdl));
    return hdl;
  }

  /// Waits for the down message of `hdl` (monitoring it first); returns its exit reason, or
  /// nullopt on timeout (the test then fails).
  std::optional<caf::error> await_down(const caf::actor& hdl,
                                       std::chrono::milliseconds timeout = actor_timeout) {
    self()->monitor(hdl);
    std::optional<caf::error> reason;
    bool done = false;
    self()->receive_while([&done] { return !done; })(
      [&](caf::down_msg& down) {
        if (down.source != hdl.address())
          return;
        reason = std::move(down.reason);
        done = true;
      },
      caf::after(timeout) >> [&done] {
        ADD_FAILURE() << "timed out waiting for an actor to terminate";
        done = true;
      });
    return reason;
  }

private:
  std::unique_ptr<runtime> rt_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::vector<caf::actor> owned_;
};

// -- reading streams and replies ----------------------------------------------------------------

/// What a sink received for one stream.
struct stream_result {
  std::vector<actors::token_chunk> chunks;
  bool ended = false;                 ///< s_end arrived.
  std::optional<caf::error> failure;  ///< s_fail arrived with this error.
  bool timed_out = false;             ///< Neither arrived in time.

  /// All tokens in arrival order.
  std::vector<engine::token_id> tokens() const {
    std::vector<engine::token_id> all;
    for (const auto& c : chunks)
      all.insert(all.end(), c.tokens.begin(), c.tokens.end());
    return all;
  }
};

/// Receives stream `id` on `self` until s_end or s_fail; `timeout` bounds the gap between two
/// messages (then timed_out is set and the test fails). Messages of other streams fail the test.
inline stream_result receive_stream(caf::scoped_actor& self, request_id id,
                                    std::chrono::milliseconds timeout = actor_timeout) {
  stream_result res;
  bool done = false;
  self->receive_while([&done] { return !done; })(
    [&](stream_item_atom, request_id rid, actors::token_chunk& chunk) {
      EXPECT_EQ(rid, id) << "an item of another stream";
      res.chunks.push_back(std::move(chunk));
    },
    [&](stream_end_atom, request_id rid) {
      EXPECT_EQ(rid, id) << "the end of another stream";
      res.ended = true;
      done = true;
    },
    [&](stream_fail_atom, request_id rid, caf::error& err) {
      EXPECT_EQ(rid, id) << "the failure of another stream";
      res.failure = std::move(err);
      done = true;
    },
    caf::after(timeout) >> [&] {
      ADD_FAILURE() << "timed out waiting for the end of stream " << id << " ("
                    << res.chunks.size() << " chunk(s) so far)";
      res.timed_out = true;
      done = true;
    });
  return res;
}

/// Receives one stream item of stream `id`; nullopt (and a test failure) on timeout or when
/// the stream ends first.
inline std::optional<actors::token_chunk>
receive_chunk(caf::scoped_actor& self, request_id id,
              std::chrono::milliseconds timeout = actor_timeout) {
  std::optional<actors::token_chunk> result;
  self->receive(
    [&](stream_item_atom, request_id rid, actors::token_chunk& chunk) {
      EXPECT_EQ(rid, id) << "an item of another stream";
      result = std::move(chunk);
    },
    [&](stream_end_atom, request_id) { ADD_FAILURE() << "stream " << id << " ended early"; },
    [&](stream_fail_atom, request_id, caf::error& err) {
      ADD_FAILURE() << "stream " << id << " failed early: " << describe(err);
    },
    caf::after(timeout) >> [&] { ADD_FAILURE() << "timed out waiting for an item of " << id; });
  return result;
}

/// The reply to a generate request.
struct generate_reply {
  std::optional<actors::generate_summary> summary;
  caf::error error;  ///< Set when the request failed (request_timeout when no reply came).
};

/// Waits for the reply behind `handle` (from self->request(..., generate_atom, ...)).
template <class ResponseHandle>
generate_reply await_reply(ResponseHandle& handle) {
  generate_reply reply;
  handle.receive([&reply](actors::generate_summary& s) { reply.summary = s; },
                 [&reply](caf::error& err) { reply.error = std::move(err); });
  return reply;
}

/// Asks `actor` for its stats (stats_atom) on behalf of `self`, waiting up to actor_timeout;
/// no answer is a test failure and gives default-constructed stats.
template <class Stats, class Actor>
Stats ask_stats(caf::scoped_actor& self, const Actor& actor) {
  Stats out;
  self->request(actor, actor_timeout, actors::stats_atom::value)
    .receive([&out](Stats& s) { out = std::move(s); },
             [](caf::error& err) { ADD_FAILURE() << "no stats: " << describe(err); });
  return out;
}

/// A generate request with `prompt_tokens` prompt tokens (values 1..n) and `max_tokens`.
inline actors::generate_request make_request(request_id id, size_t prompt_tokens = 32,
                                             uint32_t max_tokens = 8) {
  actors::generate_request req;
  req.id = id;
  req.model = "mock-model";
  for (size_t i = 0; i < prompt_tokens; ++i)
    req.tokens.push_back(static_cast<engine::token_id>(1 + i % 200));
  req.stop.max_tokens = max_tokens;
  return req;
}

// -- planes -----------------------------------------------------------------------------------

/// Collects the messages of one event-plane subscription; unsubscribes on destruction.
class event_collector {
public:
  /// Subscribes to `pattern`; fails the current test if that is refused.
  event_collector(event_plane& plane, std::string pattern) : plane_(plane) {
    auto id = plane_.subscribe(std::move(pattern), [this](const event_message& m) {
      std::lock_guard<std::mutex> guard{mtx_};
      messages_.push_back(m);
    });
    if (id)
      id_ = *id;
    else
      ADD_FAILURE() << "cannot subscribe: " << describe(id.error());
  }

  ~event_collector() {
    if (id_)
      plane_.unsubscribe(*id_);
  }

  event_collector(const event_collector&) = delete;
  event_collector& operator=(const event_collector&) = delete;

  /// A copy of the messages received so far. Any thread.
  std::vector<event_message> messages() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return messages_;
  }

private:
  event_plane& plane_;
  std::optional<subscription_id> id_;
  mutable std::mutex mtx_;
  std::vector<event_message> messages_;
};

/// The sum of the samples of metric `name` whose line contains `filter`, in a Prometheus text
/// body; nullopt when there is none.
inline std::optional<double> metric_value(const std::string& text, const std::string& name,
                                          const std::string& filter = {}) {
  std::optional<double> sum;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0)
      continue;
    if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ')
      continue;
    if (!filter.empty() && line.find(filter) == std::string::npos)
      continue;
    sum = sum.value_or(0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

} // namespace dynamo::testing
