// The messages and typed interfaces the components of an LLM inference graph speak.
// One header per module keeps the CAF type vocabulary in one place (a later port to CAF 1.0
// then touches only this file).
#pragma once

#include "dynamo/context.hpp"
#include "dynamo/drain.hpp"
#include "dynamo/engine/types.hpp"
#include "dynamo/plane/stream.hpp"

#include <caf/atom.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dynamo::actors {

// -- atoms ------------------------------------------------------------------------------------

/// Starts a generation: a request plus the sink that receives its tokens.
using generate_atom = caf::atom_constant<caf::atom("generate")>;
/// Asks a component for a snapshot of its state (for tests, diagnostics, /metrics).
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// -- value types ------------------------------------------------------------------------------

/// Per-request overrides of a KV-aware router's defaults (the OpenAI request's
/// nvext.router_config_override). A negative value means "use the router's default".
struct routing_hints {
  double overlap_weight = -1.0;  ///< Weight of prefill blocks in the routing cost.
  double temperature = -1.0;     ///< Softmax temperature of the worker choice (0 = argmin).
};

/// A tokenized generation request as it travels frontend -> router -> worker.
struct generate_request {
  request_id id = 0;                       ///< Unique per frontend request (random 64-bit).
  std::string model;
  std::vector<engine::token_id> tokens;    ///< The prompt.
  engine::sampling_params sampling;
  engine::stop_conditions stop;
  int64_t deadline_unix_ms = 0;            ///< Absolute deadline (wall clock); 0 = none.
  routing_hints routing;                   ///< Read by KV-aware routers; ignored by workers.
  /// Disaggregated serving: the prefill worker instance the router picked for a decode worker;
  /// 0 = the decode worker picks one itself (or prefills locally).
  uint64_t prefill_worker = 0;
};

/// A piece of the token stream sent to the request's sink.
struct token_chunk {
  std::vector<engine::token_id> tokens;
  engine::finish_reason finish = engine::finish_reason::none;
  uint32_t prompt_tokens = 0;
  uint32_t cached_prompt_tokens = 0;
};

/// The reply to a generate request, sent when the sequence has ended (after the sink got its
/// last item and stream end). Routers use it to track load.
struct generate_summary {
  uint64_t worker_instance = 0;
  uint32_t prompt_tokens = 0;
  uint32_t cached_prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  engine::finish_reason finish = engine::finish_reason::none;
};

// -- inspectors (serialization and printing) --------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_request& x) {
  // CAF 0.17 cannot inspect std::optional: carry the seed as (has_seed, seed).
  bool has_seed = x.sampling.seed.has_value();
  uint64_t seed = x.sampling.seed.value_or(0);
  return f(caf::meta::type_name("generate_request"), x.id, x.model, x.tokens,
           x.sampling.temperature, x.sampling.top_p, x.sampling.top_k, has_seed, seed,
           x.stop.max_tokens, x.stop.stop_token_ids, x.stop.ignore_eos, x.deadline_unix_ms,
           x.routing.overlap_weight, x.routing.temperature, x.prefill_worker,
           caf::meta::load_callback([&x, &has_seed, &seed]() -> caf::error {
             x.sampling.seed = has_seed ? std::optional<uint64_t>{seed} : std::nullopt;
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_chunk& x) {
  return f(caf::meta::type_name("token_chunk"), x.tokens, x.finish, x.prompt_tokens,
           x.cached_prompt_tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_summary& x) {
  return f(caf::meta::type_name("generate_summary"), x.worker_instance, x.prompt_tokens,
           x.cached_prompt_tokens, x.completion_tokens, x.finish);
}

// -- typed interfaces -------------------------------------------------------------------------

/// Receives the tokens of one request.
using token_sink_actor = stream_sink_actor<token_chunk>;

/// Generates tokens for a request: streams token_chunks to the sink, then replies with the
/// summary (or an error: invalid_request, unavailable, overloaded, cancelled, disconnected).
/// Cancel messages stop (stop_generating) or drop (kill) a running request.
using generate_actor
  = caf::typed_actor<caf::replies_to<generate_atom, generate_request, token_sink_actor>::with<
                       generate_summary>,
                     caf::reacts_to<cancel_atom, request_id, cancel_kind>>;

// -- interface tags for graphs ----------------------------------------------------------------

/// "Generates tokens from a tokenized request" — provided by routers, workers and any middle
/// component (guardrail, logger); required by frontends and routers.
struct generate_api {
  using handle_type = generate_actor;
  static constexpr const char* name = "generate";
};

/// "Is an inference worker": a generate endpoint backed by an engine with a KV cache. Routers
/// require it (they route among workers); only workers provide it.
struct worker_api {
  using handle_type = generate_actor;
  static constexpr const char* name = "generate";
};

} // namespace dynamo::actors
