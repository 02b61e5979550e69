#include "guardrail.hpp"

#include "dynamo/actors/forward.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/lifecycle.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

namespace guardrail_example {

using namespace dynamo;
using namespace dynamo::actors;

namespace {

struct guardrail_state {
  component_context ctx;
  guardrail_config cfg;
  peer_set<generate_actor> targets;
  size_t next = 0;
  std::unordered_map<request_id, generate_actor> routes;  // for cancel forwarding
  forward_table forwards;
  std::optional<lease_id> lease;
  lifecycle life;
  caf::typed_response_promise<drain_report> drain_promise;
  bool drain_pending = false;
  counter* rejected = nullptr;
  static inline const char* name = "guardrail";
};

using guardrail_pointer = guardrail_actor::stateful_pointer<guardrail_state>;

void forget(guardrail_pointer self, request_id id) {
  auto& st = self->state;
  st.routes.erase(id);
  if (st.drain_pending && st.routes.empty()) {
    st.drain_pending = false;
    st.drain_promise.deliver(drain_report{true, 0});
    self->quit();
  }
}

caf::error init_guardrail(guardrail_pointer self) {
  auto& st = self->state;
  st.rejected = &st.ctx.rt->metrics().get_counter(
    "guardrail_rejected_total", "prompts rejected by the guardrail",
    {{"instance", st.ctx.instance.to_string()}});
  auto lease = announce(st.ctx, caf::actor_cast<caf::actor>(self), "generate",
                        {{"endpoints", "generate"}, {"interfaces", "generate"}});
  if (!lease)
    return std::move(lease.error());
  st.lease = *lease;
  if (auto err = watch_peers(st.ctx, st.ctx.targets_for<generate_api>(),
                             caf::actor_cast<caf::actor>(self)))
    return err;
  st.life.start();
  st.ctx.log->info("blocking {} word(s)", st.cfg.blocked_words.size());
  return caf::none;
}

guardrail_actor::behavior_type guardrail_behavior(guardrail_pointer self, component_context ctx,
                                                  guardrail_config cfg) {
  self->state.ctx = std::move(ctx);
  self->state.cfg = std::move(cfg);
  self->state.forwards = forward_table{[self](request_id id, caf::error&) { forget(self, id); }};
  self->set_down_handler(
    [self](const caf::down_msg& down) { self->state.forwards.target_down(down); });
  if (auto err = init_guardrail(self)) {
    self->state.ctx.log->error("cannot start: {}", describe(err));
    self->quit(err);
  }
  return {
    [self](generate_atom, generate_request& req,
           token_sink_actor& sink) -> caf::result<generate_summary> {
      auto& st = self->state;
      if (!st.life.accepting())
        return make_error(errc::unavailable, "the guardrail is shutting down");
      if (auto word = find_blocked_word(req.tokens, st.cfg.blocked_words); !word.empty()) {
        st.rejected->inc();
        st.ctx.log->info("rejected request {:016x}: contains '{}'", req.id, word);
        return make_error(errc::invalid_request,
                          fmt::format("the prompt contains a blocked word ('{}')", word));
      }
      if (st.targets.empty())
        return make_error(errc::unavailable, "no downstream component is available");
      auto target = st.targets.entries()[st.next++ % st.targets.size()].handle;
      st.routes[req.id] = target;
      return st.forwards.forward(self, target, std::move(req), std::move(sink));
    },
    [self](cancel_atom, request_id id, cancel_kind kind) {
      if (auto i = self->state.routes.find(id); i != self->state.routes.end())
        self->send(i->second, cancel_atom::value, id, kind);
    },
    [self](peer_atom, peer_change& change) {
      auto& st = self->state;
      if (auto err = st.targets.apply(change, st.ctx.rt->requests(), st.ctx.rt->ns(), "generate"))
        st.ctx.log->warn("cannot reach {:016x}: {}", change.instance, describe(err));
    },
    [self](drain_atom, uint32_t) -> caf::result<drain_report> {
      auto& st = self->state;
      if (!st.life.begin_drain())
        return make_error(errc::invalid_request, "already draining");
      if (st.lease)
        static_cast<void>(st.ctx.rt->discovery().revoke(*st.lease));
      if (st.routes.empty()) {
        self->quit();
        return drain_report{true, 0};
      }
      st.drain_promise = self->make_response_promise<drain_report>();
      st.drain_pending = true;
      return st.drain_promise;
    },
  };
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

} // namespace

void guardrail_config::bind(option_set& opts, const std::string& prefix) {
  opts.add(blocked_words, prefix + ".blocked-words",
           "comma-separated words that make a prompt be rejected (case-insensitive)");
}

std::string find_blocked_word(const std::vector<engine::token_id>& tokens,
                              const std::vector<std::string>& blocked_words) {
  // The byte-level tokenizer maps tokens 0..255 to bytes; special tokens are skipped.
  std::string text;
  text.reserve(tokens.size());
  for (auto t : tokens)
    if (t < 256)
      text.push_back(static_cast<char>(t));
  text = lower(std::move(text));
  for (const auto& word : blocked_words)
    if (!word.empty() && text.find(lower(word)) != std::string::npos)
      return word;
  return {};
}

caf::actor guardrail::spawn(component_context& ctx, const config& cfg) {
  return caf::actor_cast<caf::actor>(ctx.rt->system().spawn(guardrail_behavior, ctx, cfg));
}

} // namespace guardrail_example
