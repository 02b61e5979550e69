// Internal: the worker actor's state and the helpers that worker.cpp and remote_prefill.cpp
// share. Not part of the public interface; included by the worker's own sources only.
#pragma once

#include "dynamo/actors/disagg_messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/actors/worker/kv_data.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/disagg/disagg_policy.hpp"
#include "dynamo/kv_router/event_history.hpp"
#include "dynamo/lifecycle.hpp"
#include "dynamo/metrics.hpp"
#include "dynamo/plane/event.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace dynamo::actors::detail {

using worker_clock = std::chrono::steady_clock;

/// A request admitted by this worker whose caller still waits for tokens.
struct active_request {
  token_sink_actor sink;
  caf::typed_response_promise<generate_summary> promise;
  uint32_t prompt_tokens = 0;
  uint32_t cached_prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  worker_clock::time_point started;
};

struct worker_metrics {
  counter* requests = nullptr;
  gauge* inflight = nullptr;
  histogram* duration = nullptr;
  counter* cancellations = nullptr;
  counter* errors = nullptr;
  gauge* kv_total = nullptr;
  gauge* kv_active = nullptr;
  gauge* kv_cached = nullptr;
  gauge* waiting = nullptr;
};

/// A prompt whose KV a prefill worker computes into blocks this worker reserved.
struct awaiting_prefill {
  generate_request request;      ///< As received: the local fallback admits it again.
  uint64_t prefill = 0;          ///< The prefill worker's instance.
  prefill_actor peer;            ///< Its handle (cancellation; its termination fails this).
  uint64_t attempt = 0;          ///< Tells this attempt's reply from a stale one.
  bool abandoned = false;        ///< The caller cancelled: free the blocks once P replied.
  bool timed_out = false;        ///< Past remote_prefill_timeout: P was told to stop.
  worker_clock::time_point started;
};

struct decode_metrics {
  counter* remote_prefills = nullptr;
  counter* fallbacks = nullptr;
  counter* local_prefills = nullptr;
  counter* transfer_bytes = nullptr;
  histogram* remote_seconds = nullptr;
  gauge* threshold = nullptr;
  gauge* peers = nullptr;
};

/// The decode role of a worker (disaggregated serving): its prefill peers and the decision.
struct decode_role {
  explicit decode_role(disagg::disagg_policy p) : policy(std::move(p)) {}
  disagg::disagg_policy policy;
  peer_set<prefill_actor> peers;
  std::unordered_map<request_id, awaiting_prefill> awaiting;
  std::unordered_map<uint64_t, uint32_t> outstanding;  ///< Per prefill instance.
  uint64_t next_attempt = 0;
  decode_metrics m;
  uint64_t remote_prefills = 0;
  uint64_t fallbacks = 0;
  uint64_t local_prefills = 0;
  uint64_t transfer_bytes = 0;
  uint64_t rejected_peers = 0;  ///< Prefill peer announcements refused as incompatible.
};

struct worker_state {
  component_context ctx;
  worker_config cfg;
  /// The data-plane agent and KV pool of a decode worker (null otherwise). Declared before the
  /// engine so that the engine, whose pool lives in kv's region, is destroyed first.
  std::shared_ptr<kv_data> kv;
  std::shared_ptr<engine::engine> engine;
  std::unordered_map<request_id, active_request> active;
  /// Sinks are monitored once however many requests they have here (a long-lived sink must not
  /// accumulate monitors).
  std::unordered_map<caf::actor_addr, uint32_t> sink_refs;
  bool stepping = false;
  uint64_t step_seq = 0;
  engine::step_result pending;
  std::vector<engine::kv_event> kv_batch;  ///< Emitted by the engine, not yet published.
  std::optional<kv_router::event_history> kv_history;  ///< Published events, for gap replays.
  uint32_t kv_block_size = 0;
  std::unique_ptr<event_publisher> publisher;
  std::optional<lease_id> lease;
  lifecycle life;
  caf::typed_response_promise<drain_report> drain_promise;
  bool drain_pending = false;
  worker_clock::time_point last_load_publish;
  worker_metrics m;
  std::optional<decode_role> decode;  ///< Set for decode workers.
  static inline const char* name = "worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

/// Runs the engine's next step unless one is in flight or there is no work. Actor thread.
void schedule_step(worker_pointer self);

/// Publishes the engine's pending KV events. Actor thread.
void flush_kv_events(worker_pointer self);

/// Publishes the load (at most every load_interval unless `force`). Actor thread.
void publish_load(worker_pointer self, bool force);

/// Ends a drain once nothing is in flight any more. Actor thread.
void finish_drain_if_idle(worker_pointer self);

/// Fails active request `id` with `err` (stream and reply) and forgets it; nothing when `id` is
/// not active. Does not touch the engine. Actor thread.
void fail_request(worker_pointer self, request_id id, const caf::error& err);

/// Queues `req` in the engine for a local prefill. Errors: those of engine::admit. Actor thread.
caf::error admit_local(worker_pointer self, const generate_request& req);

} // namespace dynamo::actors::detail
