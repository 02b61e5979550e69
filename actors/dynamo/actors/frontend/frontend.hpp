// The OpenAI-compatible frontend: HTTP ingress, validation, tokenization and chat templates,
// streaming (SSE), client-disconnect -> cancellation, /v1/models, /health and /metrics.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/component.hpp"
#include "dynamo/http/server.hpp"

#include <caf/typed_actor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace dynamo::actors {

/// An HTTP request handed from the server's event loop to the frontend actor.
struct http_exchange {
  http::request request;                          ///< The parsed request with its body.
  std::shared_ptr<http::response_stream> stream;  ///< Where the answer goes (thread-safe).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_exchange& x) {
  return f(caf::meta::type_name("http_exchange"), x.request.method, x.request.target,
           x.request.body);
}

/// Delivers one HTTP exchange to the frontend.
using http_atom = caf::atom_constant<caf::atom("http")>;
/// Internal: re-check whether a drain has finished.
using drain_tick_atom = caf::atom_constant<caf::atom("drain_tick")>;

/// Snapshot of the frontend (tests and diagnostics).
struct frontend_stats {
  std::string address;            ///< "host:port" actually bound.
  uint32_t active_requests = 0;
  uint32_t targets = 0;           ///< Live instances of the components it sends to.
  std::vector<std::string> models;  ///< Models with at least one live worker.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, frontend_stats& x) {
  return f(caf::meta::type_name("frontend_stats"), x.address, x.active_requests, x.targets,
           x.models);
}

/// The frontend's typed interface.
using frontend_actor = lifecycle_actor::extend<
  caf::reacts_to<http_atom, http_exchange>, caf::reacts_to<peer_atom, peer_change>,
  caf::reacts_to<peer_retry_atom, uint64_t>, caf::reacts_to<drain_tick_atom>, caf::replies_to<stats_atom>::with<frontend_stats>>;

/// Frontend settings (flags "--<name>.*"; --host and --port are aliases).
struct frontend_config {
  std::string host = "127.0.0.1";                  ///< Address the HTTP server binds.
  uint16_t port = 8000;                            ///< 0 = pick a free port.
  size_t max_body_bytes = 4u << 20;                ///< Larger bodies get 413.
  uint32_t default_max_tokens = 16;                ///< When a request gives none.
  uint32_t max_tokens_limit = 32768;
  std::chrono::milliseconds request_timeout{600000};  ///< Deadline of every request.
  /// Pause between reconnects to a target (router) whose connection broke while discovery still
  /// lists it; it is out of rotation meanwhile.
  std::chrono::milliseconds reconnect_delay{500};

  /// Registers the fields under `prefix`.
  void bind(option_set& opts, const std::string& prefix);
};

/// Graph component: the OpenAI frontend. Requires a generate endpoint (a router, a middle
/// component such as a guardrail, or a worker).
struct frontend {
  using config = frontend_config;
  using provides = interfaces<>;
  using requires_ = interfaces<generate_api>;
  static constexpr std::string_view kind = "frontend";
  /// Spawns one replica; it binds host:port and registers its address in discovery (metadata
  /// "http_address").
  static caf::actor spawn(component_context& ctx, const config& cfg);
};

} // namespace dynamo::actors
