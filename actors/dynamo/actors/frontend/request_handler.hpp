// One actor per generation request: tokenizes, sends the request downstream, turns the token
// stream into the OpenAI response (SSE or one JSON body), and cancels downstream work when the
// client goes away or the deadline passes.
#pragma once

#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/frontend/model_assets.hpp"
#include "dynamo/metrics.hpp"
#include "dynamo/openai/types.hpp"

#include <caf/actor.hpp>

#include <memory>

namespace dynamo::actors {

/// Immutable state shared by a frontend and all its request handlers (any thread may read it).
struct frontend_shared {
  component_context ctx;
  frontend_config cfg;
  std::shared_ptr<const model_assets> builtin;  ///< For models registered without files.
  metrics_registry* metrics = nullptr;
};

/// Spawns the handler of one request; it tokenizes with `assets` (the requested model's).
/// `target` receives the generate request; `id` is unique. The handler owns `stream` and
/// answers on it exactly once (or streams and finishes it).
caf::actor spawn_request_handler(caf::actor_system& sys,
                                 std::shared_ptr<const frontend_shared> shared,
                                 std::shared_ptr<const model_assets> assets, openai::request req,
                                 std::shared_ptr<http::response_stream> stream,
                                 generate_actor target, request_id id);

/// Sends an OpenAI error body with the error's status (adds Retry-After for 503 overload).
void respond_error(http::response_stream& stream, const openai::api_error& err);

} // namespace dynamo::actors
