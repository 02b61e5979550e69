#include "dynamo/actors/frontend/request_handler.hpp"

#include "dynamo/context.hpp"
#include "dynamo/error.hpp"
#include "dynamo/openai/format.hpp"
#include "dynamo/openai/stop_matcher.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <fmt/format.h>

#include <chrono>
#include <variant>

namespace dynamo::actors {

namespace {

using clock = std::chrono::steady_clock;

/// Internal: the client went away.
using gone_atom = caf::atom_constant<caf::atom("gone")>;
/// Internal: the request's deadline passed.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

struct handler_metrics {
  histogram* ttft = nullptr;
  histogram* itl = nullptr;
  histogram* duration = nullptr;
  histogram* isl = nullptr;
  histogram* osl = nullptr;
  counter* output_tokens = nullptr;
  counter* cached_tokens = nullptr;
  counter* disconnected = nullptr;
  counter* cancelled = nullptr;
  gauge* inflight = nullptr;
};

struct handler_state {
  std::shared_ptr<const frontend_shared> shared;
  std::shared_ptr<const model_assets> assets;
  openai::request req;
  std::shared_ptr<http::response_stream> stream;
  generate_actor target;
  request_id id = 0;
  /// Root of this request's cancellation tree; cancelling it tells the downstream component.
  std::shared_ptr<request_context> cancel;
  std::string response_id;
  int64_t created = 0;
  std::unique_ptr<tokenizer::decode_stream> detok;
  std::unique_ptr<openai::stop_matcher> stops;
  std::string text;               // accumulated (non-streaming)
  bool first_chunk = true;
  bool done = false;
  openai::usage counts;
  clock::time_point started;
  clock::time_point last_token;
  bool saw_token = false;
  handler_metrics m;
  static inline const char* name = "request_handler";
};

using handler_pointer = caf::stateful_actor<handler_state>*;

std::string finish_text(engine::finish_reason why) {
  switch (why) {
    case engine::finish_reason::length:
      return "length";
    default:
      return "stop";
  }
}

void init_metrics(handler_state& st) {
  auto& reg = *st.shared->metrics;
  label_set model{{"model", st.req.model}};
  auto buckets = latency_buckets_seconds();
  st.m.ttft = &reg.get_histogram("dynamo_frontend_time_to_first_token_seconds",
                                 "time to first token", buckets, model);
  st.m.itl = &reg.get_histogram("dynamo_frontend_inter_token_latency_seconds",
                                "time between tokens", buckets, model);
  st.m.duration = &reg.get_histogram("dynamo_frontend_request_duration_seconds",
                                     "time from request to last byte", buckets, model);
  auto token_buckets = exponential_buckets(1, 2, 18);
  st.m.isl = &reg.get_histogram("dynamo_frontend_input_sequence_tokens", "prompt tokens",
                                token_buckets, model);
  st.m.osl = &reg.get_histogram("dynamo_frontend_output_sequence_tokens", "generated tokens",
                                token_buckets, model);
  st.m.output_tokens = &reg.get_counter("dynamo_frontend_output_tokens_total",
                                        "generated tokens", model);
  st.m.cached_tokens = &reg.get_counter("dynamo_frontend_cached_tokens_total",
                                        "prompt tokens served from the prefix cache", model);
  st.m.disconnected = &reg.get_counter("dynamo_frontend_disconnected_clients",
                                       "clients that disconnected before the response ended");
  st.m.cancelled = &reg.get_counter("dynamo_frontend_model_cancellation_total",
                                    "requests cancelled (disconnect, stop string, deadline)",
                                    model);
  st.m.inflight = &reg.get_gauge("dynamo_frontend_inflight_requests",
                                 "requests being processed", model);
}

void count_request(handler_state& st, int status) {
  st.shared->metrics
    ->get_counter("dynamo_frontend_requests_total", "requests by outcome",
                  {{"model", st.req.model},
                   {"endpoint", std::string{openai::to_string(st.req.kind)}},
                   {"request_type", st.req.stream ? "stream" : "unary"},
                   {"status", std::to_string(status)}})
    .inc();
}

/// Marks the request done and settles its metrics. Called before the last bytes are handed to
/// the server, so that a client that got its response already sees it counted.
void close_out(handler_state& st, int status) {
  st.done = true;
  count_request(st, status);
  st.m.inflight->dec();
  st.m.duration->observe(std::chrono::duration<double>(clock::now() - st.started).count());
}

/// Ends the request with the API error `api` (`detail` is for the log only): an HTTP error
/// before streaming started, an SSE error event (then [DONE]) after.
void fail(handler_pointer self, const openai::api_error& api, std::string_view detail) {
  auto& st = self->state;
  if (st.done)
    return;
  // Server-side failures are the operator's business; a client's bad input is not.
  if (api.status >= 500)
    st.shared->ctx.log->warn("request {:016x} failed ({}): {}", st.id, api.status, detail);
  else
    st.shared->ctx.log->debug("request {:016x} failed: {}", st.id, detail);
  close_out(st, api.status);
  if (st.req.stream && !st.first_chunk) {
    st.stream->write(openai::sse_event(openai::format_error(api)));
    st.stream->write(openai::sse_done());
    st.stream->finish();
  } else {
    respond_error(*st.stream, api);
  }
  self->quit();
}

/// Ends the request with a dynamo error, mapped to its API error.
void fail(handler_pointer self, const caf::error& err) {
  fail(self, openai::error_from(err), describe(err));
}

/// Sends the SSE response head once, before the first chunk.
void start_sse(handler_state& st) {
  if (st.first_chunk)
    st.stream->start_stream(200, "text/event-stream",
                            {{"Cache-Control", "no-cache"}, {"X-Request-Id", st.response_id}});
}

void emit_text(handler_pointer self, std::string_view delta) {
  auto& st = self->state;
  if (delta.empty())
    return;
  if (!st.req.stream) {
    st.text.append(delta);
    return;
  }
  start_sse(st);
  st.stream->write(openai::sse_event(openai::format_chunk(st.req.kind, st.response_id, st.created,
                                                          st.req.model, delta, std::nullopt,
                                                          st.first_chunk)));
  st.first_chunk = false;
}

/// Sends the end of a successful response.
void complete(handler_pointer self, const std::string& finish) {
  auto& st = self->state;
  if (st.done)
    return;
  st.m.osl->observe(st.counts.completion_tokens);
  st.m.output_tokens->inc(st.counts.completion_tokens);
  st.m.cached_tokens->inc(st.counts.cached_tokens);
  close_out(st, 200);
  if (st.req.stream) {
    start_sse(st);
    st.stream->write(openai::sse_event(openai::format_chunk(st.req.kind, st.response_id,
                                                            st.created, st.req.model, "", finish,
                                                            st.first_chunk)));
    st.first_chunk = false;
    if (st.req.include_usage)
      st.stream->write(openai::sse_event(openai::format_usage_chunk(
        st.req.kind, st.response_id, st.created, st.req.model, st.counts)));
    st.stream->write(openai::sse_done());
    st.stream->finish();
  } else {
    st.stream->respond(200, "application/json",
                       openai::format_response(st.req.kind, st.response_id, st.created,
                                               st.req.model, st.text, finish, st.counts),
                       {{"X-Request-Id", st.response_id}});
  }
  self->quit();
}

void on_tokens(handler_pointer self, token_chunk& chunk) {
  auto& st = self->state;
  if (st.done)
    return;
  auto now = clock::now();
  st.counts.prompt_tokens = chunk.prompt_tokens;
  st.counts.cached_tokens = chunk.cached_prompt_tokens;
  if (!chunk.tokens.empty()) {
    if (!st.saw_token) {
      st.m.ttft->observe(std::chrono::duration<double>(now - st.started).count());
      st.saw_token = true;
    } else {
      auto gap = std::chrono::duration<double>(now - st.last_token).count();
      st.m.itl->observe(gap / static_cast<double>(chunk.tokens.size()));
    }
    st.last_token = now;
  }
  std::string delta;
  for (auto t : chunk.tokens) {
    ++st.counts.completion_tokens;
    delta += st.detok->push(t);
  }
  if (chunk.finish != engine::finish_reason::none)
    delta += st.detok->flush();
  auto res = st.stops->push(delta);
  emit_text(self, res.emit);
  if (res.stopped) {
    // The stop string ended the text: free the worker's resources and answer now.
    st.cancel->kill();
    st.m.cancelled->inc();
    complete(self, "stop");
    return;
  }
  if (chunk.finish != engine::finish_reason::none) {
    emit_text(self, st.stops->flush());
    complete(self, finish_text(chunk.finish));
  }
}

/// The prompt of the request as token ids. A token-id prompt is taken verbatim (no BOS, as
/// OpenAI does) after checking every id against the model's vocabulary; a text prompt gets the
/// tokenizer's prompt prefix; a chat is rendered with the model's template first.
std::variant<std::vector<engine::token_id>, openai::api_error> prompt_tokens(handler_state& st) {
  const auto& tok = *st.assets->tok;
  if (!st.req.prompt_token_ids.empty()) {
    const auto vocab = tok.vocab_size();
    const auto& ids = st.req.prompt_token_ids;
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] >= vocab)
        return openai::api_error{400,
                                 fmt::format("'prompt[{}]' is {}, which is not a token id of "
                                             "model '{}' (valid ids are 0 to {})",
                                             i, ids[i], st.req.model, vocab - 1),
                                 "invalid_request_error", "prompt", "invalid_value"};
    return std::move(st.req.prompt_token_ids);
  }
  std::string prompt;
  if (st.req.kind == openai::api_kind::chat) {
    if (!st.assets->chat)
      return openai::error_from(make_error(
        errc::invalid_request,
        fmt::format("the model '{}' has no chat template; use /v1/completions", st.req.model)));
    std::vector<tokenizer::chat_message> msgs;
    msgs.reserve(st.req.messages.size());
    for (const auto& m : st.req.messages)
      msgs.push_back(tokenizer::chat_message{m.role, m.content});
    auto rendered = st.assets->chat->render(msgs, true);
    if (!rendered) {
      st.shared->ctx.log->debug("request {:016x}: chat template failed: {}", st.id,
                                describe(rendered.error()));
      return openai::error_from(rendered.error());
    }
    prompt = std::move(*rendered);
  } else {
    prompt = std::move(st.req.prompt);
  }
  // As Hugging Face tokenizers do by default: special tokens written in the text are parsed,
  // and a raw completion prompt gets the post-processor's prefix (BOS), which chat templates
  // render themselves.
  std::vector<engine::token_id> tokens;
  if (st.req.kind != openai::api_kind::chat && !prompt.empty())
    tokens = tok.prompt_prefix();
  auto encoded = tok.encode_special(prompt);
  if (encoded.empty())
    return openai::error_from(make_error(errc::invalid_request, "the prompt is empty"));
  tokens.insert(tokens.end(), encoded.begin(), encoded.end());
  return tokens;
}

caf::behavior handler_behavior(handler_pointer self, std::shared_ptr<const frontend_shared> shared,
                               std::shared_ptr<const model_assets> assets, openai::request req,
                               std::shared_ptr<http::response_stream> stream,
                               generate_actor target, request_id id) {
  auto& state = self->state;
  state.shared = std::move(shared);
  state.assets = std::move(assets);
  state.req = std::move(req);
  state.stream = std::move(stream);
  state.target = std::move(target);
  state.id = id;
  state.started = clock::now();
  state.created = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  state.response_id = openai::make_response_id(state.req.kind, id);
  init_metrics(state);
  state.m.inflight->inc();
  state.detok = state.assets->tok->make_decode_stream();
  state.stops = std::make_unique<openai::stop_matcher>(state.req.stop);
  generate_request gen;
  gen.id = id;
  gen.model = state.req.model;
  auto tokens = prompt_tokens(state);
  if (auto* err = std::get_if<openai::api_error>(&tokens)) {
    fail(self, *err, err->message);
    return {};
  }
  gen.tokens = std::move(std::get<std::vector<engine::token_id>>(tokens));
  state.counts.prompt_tokens = static_cast<uint32_t>(gen.tokens.size());
  state.m.isl->observe(static_cast<double>(gen.tokens.size()));
  gen.sampling.temperature = state.req.temperature.value_or(1.0f);
  gen.sampling.top_p = state.req.top_p.value_or(1.0f);
  gen.sampling.top_k = state.req.top_k.value_or(0);
  gen.sampling.seed = state.req.seed;
  gen.stop.max_tokens = state.req.max_tokens;
  gen.stop.ignore_eos = state.req.ignore_eos;
  gen.routing.overlap_weight = state.req.overlap_score_weight.value_or(-1.0);
  gen.routing.temperature = state.req.router_temperature.value_or(-1.0);
  if (auto eos = state.assets->tok->eos_token_id(); eos && !state.req.ignore_eos)
    gen.stop.stop_token_ids.push_back(*eos);
  auto timeout = state.shared->cfg.request_timeout;
  gen.deadline_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           (std::chrono::system_clock::now() + timeout).time_since_epoch())
                           .count();
  // The request's cancellation tree: whoever cancels it (client disconnect, deadline, stop
  // string) reaches the downstream component with the same kind (stop-generating or kill).
  state.cancel = request_context::make(state.response_id, clock::now() + timeout);
  state.cancel->on_cancel([target = state.target, id](cancel_kind kind) {
    caf::anon_send(target, cancel_atom::value, id, kind);
  });
  state.stream->on_disconnect(
    [hdl = caf::actor{self}] { caf::anon_send(hdl, gone_atom::value); });
  self->delayed_send(self, timeout, expire_atom::value);
  // CAF 0.17 never answers a request whose receiver dies holding it: watch the target.
  self->monitor(state.target);
  self->set_down_handler([self](const caf::down_msg& down) {
    if (down.source == self->state.target.address())
      fail(self, make_error(errc::disconnected, "the component serving the request went away",
                            caf::to_string(down.reason)));
  });
  auto sink = caf::actor_cast<token_sink_actor>(self);
  self->request(state.target, caf::infinite, generate_atom::value, std::move(gen), sink)
    .then([](const generate_summary&) {
            // Tokens and the end of the stream arrive on the sink; nothing to do here.
          },
          [self](caf::error& err) { fail(self, err); });
  return {
    [self](stream_item_atom, request_id, token_chunk& chunk) { on_tokens(self, chunk); },
    [self](stream_end_atom, request_id) {
      // The stream ended without a final chunk (should not happen): finish what we have.
      complete(self, "stop");
    },
    [self](stream_fail_atom, request_id, caf::error& err) { fail(self, err); },
    [self](gone_atom) {
      auto& s = self->state;
      if (s.done)
        return;
      s.m.disconnected->inc();
      s.m.cancelled->inc();
      s.cancel->kill();
      close_out(s, 499);
      self->quit();
    },
    [self](expire_atom) {
      auto& s = self->state;
      if (s.done)
        return;
      s.m.cancelled->inc();
      s.cancel->kill();
      fail(self, make_error(errc::deadline_exceeded, "the request timed out"));
    },
  };
}

} // namespace

void respond_error(http::response_stream& stream, const openai::api_error& err) {
  http::header_list extra;
  if (err.status == 503 && err.code == "overloaded")
    extra.emplace_back("Retry-After", "1");
  stream.respond(err.status, "application/json", openai::format_error(err), std::move(extra));
}

caf::actor spawn_request_handler(caf::actor_system& sys,
                                 std::shared_ptr<const frontend_shared> shared,
                                 std::shared_ptr<const model_assets> assets, openai::request req,
                                 std::shared_ptr<http::response_stream> stream,
                                 generate_actor target, request_id id) {
  return sys.spawn(handler_behavior, std::move(shared), std::move(assets), std::move(req),
                   std::move(stream), std::move(target), id);
}

} // namespace dynamo::actors
