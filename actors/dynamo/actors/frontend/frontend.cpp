#include "dynamo/actors/frontend/frontend.hpp"

#include "dynamo/actors/frontend/request_handler.hpp"
#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/lifecycle.hpp"
#include "dynamo/openai/format.hpp"
#include "dynamo/openai/parse.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/plane/request.hpp"
#include "dynamo/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <set>

namespace dynamo::actors {

namespace {

constexpr auto drain_poll = std::chrono::milliseconds{20};

struct frontend_state {
  std::shared_ptr<frontend_shared> shared;
  std::shared_ptr<http::server> server;
  std::string address;
  peer_set<generate_actor> targets;
  std::set<std::string> target_components;
  std::map<uint64_t, std::string> models;  // instance -> served model
  std::set<std::string> seen_models;       // every model ever served (404 vs 503)
  /// Tokenizer and chat template per model name, or why they could not be loaded.
  std::map<std::string, caf::expected<std::shared_ptr<const model_assets>>> assets;
  model_assets_cache assets_cache;
  size_t next_target = 0;
  uint64_t next_id = 0;
  std::set<caf::actor_addr> handlers;
  std::optional<lease_id> lease;
  lifecycle life;
  caf::typed_response_promise<drain_report> drain_promise;
  std::chrono::steady_clock::time_point drain_deadline;
  bool drain_pending = false;
  static inline const char* name = "frontend";
};

using frontend_pointer = frontend_actor::stateful_pointer<frontend_state>;

std::vector<std::string> model_names(const frontend_state& st) {
  std::set<std::string> names;
  for (const auto& [inst, model] : st.models)
    names.insert(model);
  return {names.begin(), names.end()};
}

void respond_json(http::response_stream& stream, int status, std::string body) {
  stream.respond(status, "application/json", std::move(body));
}

openai::api_error api_error(int status, std::string message, std::string type, std::string code,
                            std::string param = {}) {
  return openai::api_error{status, std::move(message), std::move(type), std::move(param),
                           std::move(code)};
}

request_id make_request_id(frontend_state& st) {
  // splitmix64 over (instance, counter): unique per frontend, spread over 64 bits.
  uint64_t z = st.shared->ctx.instance.value + 0x9e3779b97f4a7c15ull * ++st.next_id;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Loads (once per directory) the tokenizer of a model that a registration names. Replicas of one
// model are expected to agree; a registration naming other files replaces the model's assets.
void note_model_assets(frontend_state& st, const std::string& model,
                       const std::optional<std::string>& path) {
  const auto& log = st.shared->ctx.log;
  if (!path) {
    if (!st.assets.contains(model))
      st.assets.emplace(model, st.shared->builtin);
    return;
  }
  auto loaded = st.assets_cache.get(*path, log);
  if (!loaded)
    log->error("model '{}': cannot load its tokenizer from {}: {}", model, *path,
               describe(loaded.error()));
  st.assets.insert_or_assign(model, std::move(loaded));
}

void handle_generate(frontend_pointer self, http_exchange& ex, openai::api_kind kind) {
  auto& st = self->state;
  auto& stream = *ex.stream;
  if (!st.life.accepting()) {
    respond_error(stream, api_error(503, "the server is shutting down", "service_unavailable",
                                    "service_unavailable"));
    return;
  }
  openai::parse_limits limits;
  limits.default_max_tokens = st.shared->cfg.default_max_tokens;
  limits.max_tokens_limit = st.shared->cfg.max_tokens_limit;
  auto parsed = openai::parse_request(ex.request.body, kind, limits);
  if (auto* err = std::get_if<openai::api_error>(&parsed)) {
    respond_error(stream, *err);
    return;
  }
  auto& req = std::get<openai::request>(parsed);
  auto live = model_names(st);
  bool served = std::find(live.begin(), live.end(), req.model) != live.end();
  if (!served && st.seen_models.count(req.model) == 0) {
    respond_error(stream, api_error(404, fmt::format("The model '{}' does not exist", req.model),
                                    "invalid_request_error", "model_not_found", "model"));
    return;
  }
  if (!served || st.targets.empty()) {
    respond_error(stream, api_error(503, "no worker is available to serve the request",
                                    "service_unavailable", "service_unavailable"));
    return;
  }
  auto assets = st.assets.find(req.model);
  if (assets == st.assets.end() || !assets->second) {
    if (assets != st.assets.end())
      st.shared->ctx.log->warn("refusing a request for '{}': {}", req.model,
                               describe(assets->second.error()));
    respond_error(stream, api_error(503, fmt::format("the tokenizer of model '{}' is not "
                                                     "available on this frontend", req.model),
                                    "service_unavailable", "service_unavailable"));
    return;
  }
  const auto& target = st.targets.entries()[st.next_target++ % st.targets.size()].handle;
  auto handler = spawn_request_handler(self->system(), st.shared, *assets->second, std::move(req),
                                       ex.stream, target, make_request_id(st));
  st.handlers.insert(handler.address());
  self->monitor(handler);
}

void handle_http(frontend_pointer self, http_exchange& ex) {
  auto& st = self->state;
  auto path = ex.request.path();
  const auto& method = ex.request.method;
  auto& stream = *ex.stream;
  auto not_allowed = [&stream, &method, &path] {
    respond_error(stream, api_error(405, fmt::format("method {} is not allowed on {}", method, path),
                                    "invalid_request_error", "method_not_allowed"));
  };
  if (path == "/v1/chat/completions" || path == "/v1/completions") {
    if (method != "POST")
      return not_allowed();
    handle_generate(self, ex,
                    path == "/v1/completions" ? openai::api_kind::completions
                                              : openai::api_kind::chat);
  } else if (path == "/v1/models") {
    if (method != "GET")
      return not_allowed();
    std::vector<openai::model_card> cards;
    for (const auto& name : model_names(st))
      cards.push_back(openai::model_card{name, "libdynamo", 0});
    respond_json(stream, 200, openai::format_models(cards));
  } else if (path == "/health" || path == "/live") {
    if (method != "GET")
      return not_allowed();
    bool ready = st.life.accepting() && (path == "/live" || !st.targets.empty());
    respond_json(stream, ready ? 200 : 503,
                 fmt::format(R"({{"status":"{}","targets":{},"models":{}}})",
                             ready ? "healthy" : "unhealthy", st.targets.size(),
                             model_names(st).size()));
  } else if (path == "/metrics") {
    if (method != "GET")
      return not_allowed();
    stream.respond(200, "text/plain; version=0.0.4", st.shared->metrics->render());
  } else {
    respond_error(stream, api_error(404, fmt::format("no route for {} {}", method, path),
                                    "invalid_request_error", "not_found"));
  }
}

void check_drain(frontend_pointer self) {
  auto& st = self->state;
  if (!st.drain_pending)
    return;
  // Done when no handler runs and the server has written every response to the end (a handler
  // finishes before its last bytes have left the event loop).
  bool idle = st.handlers.empty() && st.server->active_requests() == 0;
  if (!idle && std::chrono::steady_clock::now() < st.drain_deadline) {
    self->delayed_send(self, drain_poll, drain_tick_atom::value);
    return;
  }
  st.drain_pending = false;
  auto abandoned = static_cast<uint32_t>(std::max(st.handlers.size(), st.server->active_requests()));
  for (const auto& h : st.handlers)
    if (auto hdl = caf::actor_cast<caf::actor>(h))
      self->send_exit(hdl, caf::exit_reason::kill);
  st.drain_promise.deliver(drain_report{abandoned == 0, abandoned});
  st.life.finish_stop();
  self->quit();
}

/// Where the HTTP server's handler finds the frontend actor (set right after spawning it).
/// Requests that arrive before that get a 503.
class handler_slot {
public:
  void set(frontend_actor hdl) {
    std::lock_guard<std::mutex> guard{mtx_};
    hdl_ = std::move(hdl);
  }
  frontend_actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return hdl_;
  }

private:
  mutable std::mutex mtx_;
  frontend_actor hdl_;
};

caf::error init_frontend(frontend_pointer self) {
  auto& st = self->state;
  auto& shared = *st.shared;
  st.address = fmt::format("{}:{}", shared.cfg.host, st.server->port());
  auto me = caf::actor_cast<frontend_actor>(self);
  // Watch the whole namespace: targets give handles, any record with a model gives a model.
  auto watch = shared.ctx.rt->discovery().watch(
    shared.ctx.rt->ns() + '/', [me](const discovery_event& ev) {
      peer_change change{ev.type == discovery_event::kind::put, ev.record.component.component,
                         ev.record.instance.value, ev.record.metadata};
      caf::anon_send(me, peer_atom::value, std::move(change));
    });
  if (!watch)
    return std::move(watch.error());
  self->attach_functor([disc = shared.ctx.rt->discovery_ptr(), w = *watch](const caf::error&) {
    disc->unwatch(w);
  });
  discovery_record rec;
  rec.component = shared.ctx.id();
  rec.instance = shared.ctx.instance;
  rec.metadata = {{"http_address", st.address}, {"interfaces", ""}};
  auto lease = shared.ctx.rt->discovery().register_instance(
    std::move(rec), lease_options{shared.ctx.rt->config().lease_ttl});
  if (!lease)
    return std::move(lease.error());
  st.lease = *lease;
  self->attach_functor([disc = shared.ctx.rt->discovery_ptr(), l = *lease](const caf::error&) {
    static_cast<void>(disc->revoke(l));
  });
  st.life.start();
  shared.ctx.log->info("OpenAI-compatible HTTP server listening on http://{}", st.address);
  return caf::none;
}

frontend_actor::behavior_type frontend_behavior(frontend_pointer self,
                                                std::shared_ptr<frontend_shared> shared,
                                                std::shared_ptr<http::server> server) {
  auto& state = self->state;
  state.shared = std::move(shared);
  state.server = std::move(server);
  for (const auto& t : state.shared->ctx.targets_for<generate_api>())
    state.target_components.insert(t);
  self->set_down_handler([self](const caf::down_msg& down) {
    auto& st = self->state;
    if (st.handlers.erase(down.source) == 0) {
      // A target's handle ended (a remote router's connection broke): out of rotation until a
      // reconnect succeeds or discovery removes it.
      if (auto id = st.targets.suspend(down.source)) {
        st.shared->ctx.log->warn("target {:016x} unreachable: suspended; reconnecting in {} ms",
                                 id->value, st.shared->cfg.reconnect_delay.count());
        self->delayed_send(self, st.shared->cfg.reconnect_delay, peer_retry_atom::value,
                           id->value);
      }
    }
    check_drain(self);
  });
  if (auto err = init_frontend(self)) {
    // CAF 0.17 typed behaviors cannot be empty: quit, and return the behavior unused.
    state.shared->ctx.log->error("cannot start: {}", describe(err));
    self->quit(err);
  }
  return {
    [self](http_atom, http_exchange& ex) { handle_http(self, ex); },
    [self](peer_atom, peer_change& change) {
      auto& st = self->state;
      if (change.up) {
        // A malformed registration is logged and the instance treated as gone: it may have
        // replaced a good one, whose facts are no longer true.
        auto reg = peer_registration(change, st.shared->ctx.log);
        if (!reg)
          change.up = false;
        else if (reg->capacity.model) {
          st.models[change.instance] = *reg->capacity.model;
          st.seen_models.insert(*reg->capacity.model);
          note_model_assets(st, *reg->capacity.model, reg->capacity.model_path);
        } else {
          st.models.erase(change.instance);
        }
      }
      if (!change.up)
        st.models.erase(change.instance);
      if (st.target_components.count(change.component) != 0) {
        auto known = st.targets.size();
        if (auto err = st.targets.apply(change, st.shared->ctx.rt->requests(),
                                        st.shared->ctx.rt->ns(), "generate"))
          st.shared->ctx.log->warn("cannot reach {} {:016x}: {}", change.component,
                                   change.instance, describe(err));
        if (st.targets.size() > known)
          self->monitor(st.targets.entries().back().handle);
      }
    },
    [self](peer_retry_atom, uint64_t instance) {
      auto& st = self->state;
      auto err = st.targets.resume(instance_id{instance}, st.shared->ctx.rt->requests(),
                                   st.shared->ctx.rt->ns(), "generate");
      if (!err) {
        self->monitor(st.targets.entries().back().handle);
        st.shared->ctx.log->info("target {:016x} reachable again", instance);
      } else if (classify(err) != errc::not_found) {
        self->delayed_send(self, st.shared->cfg.reconnect_delay, peer_retry_atom::value,
                           instance);
      }
    },
    [self](drain_tick_atom) { check_drain(self); },
    [self](stats_atom) {
      auto& st = self->state;
      return frontend_stats{st.address, static_cast<uint32_t>(st.handlers.size()),
                            static_cast<uint32_t>(st.targets.size()), model_names(st)};
    },
    [self](drain_atom, uint32_t timeout_ms) -> caf::result<drain_report> {
      auto& st = self->state;
      if (!st.life.begin_drain())
        return make_error(errc::invalid_request, "the frontend is already draining");
      st.shared->ctx.log->info("draining: refusing new requests, {} in flight",
                               st.handlers.size());
      st.server->stop_accepting();
      if (st.lease)
        static_cast<void>(st.shared->ctx.rt->discovery().revoke(*st.lease));
      st.drain_promise = self->make_response_promise<drain_report>();
      st.drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
      st.drain_pending = true;
      auto promise = st.drain_promise;
      check_drain(self);
      return promise;
    },
  };
}

} // namespace

void frontend_config::bind(option_set& opts, const std::string& prefix) {
  opts.add(host, prefix + ".host", "address the HTTP server binds", "DYN_HTTP_HOST");
  opts.add(port, prefix + ".port", "HTTP port (0 = any free port)", "DYN_HTTP_PORT");
  opts.add(max_body_bytes, prefix + ".max-body-bytes", "largest accepted request body (413 above)");
  opts.add(default_max_tokens, prefix + ".default-max-tokens",
           "max_tokens when a request gives none");
  opts.add(max_tokens_limit, prefix + ".max-tokens-limit", "largest accepted max_tokens");
  opts.add(reconnect_delay, prefix + ".reconnect-delay",
           "pause between reconnects to a router whose connection broke (e.g. 500ms)");
  opts.add(request_timeout, prefix + ".request-timeout", "deadline of every request (e.g. 10m)",
           "DYN_REQUEST_TIMEOUT");
  opts.alias("host", prefix + ".host");
  opts.alias("port", prefix + ".port");
}

caf::actor frontend::spawn(component_context& ctx, const config& cfg) {
  auto shared = std::make_shared<frontend_shared>();
  shared->ctx = ctx;
  shared->cfg = cfg;
  shared->builtin = builtin_model_assets();
  shared->metrics = &ctx.rt->metrics();
  // Bind before spawning, so that a busy port fails the start of the graph loudly.
  auto slot = std::make_shared<handler_slot>();
  http::server_config scfg;
  scfg.host = cfg.host;
  scfg.port = cfg.port;
  scfg.max_body_bytes = cfg.max_body_bytes;
  scfg.logger = ctx.log;
  auto server = http::server::start(scfg, [slot](http::request req,
                                                 std::shared_ptr<http::response_stream> stream) {
    auto hdl = slot->get();
    if (!hdl) {
      respond_error(*stream, openai::api_error{503, "the server is starting",
                                               "service_unavailable", "", ""});
      return;
    }
    caf::anon_send(hdl, http_atom::value, http_exchange{std::move(req), std::move(stream)});
  });
  if (!server) {
    ctx.log->error("cannot serve HTTP on {}:{}: {}", cfg.host, cfg.port, describe(server.error()));
    return {};
  }
  std::shared_ptr<http::server> srv{std::move(*server)};
  auto hdl = ctx.rt->system().spawn(frontend_behavior, shared, srv);
  slot->set(hdl);
  return caf::actor_cast<caf::actor>(hdl);
}

} // namespace dynamo::actors
