// The KV-aware side of a router, without the actor: which workers may be routed to (block size
// and hash scheme must match), the global prefix index and the scheduler that reads it, the
// approximate mode's decision log, the replicas' shared load view, and the router's KV metrics.
// Owned by one router actor; not thread-safe (the index itself is shared with the event
// ingester, which writes it concurrently).
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/config.hpp"
#include "dynamo/kv_router/decision_log.hpp"
#include "dynamo/kv_router/kv_scheduler.hpp"
#include "dynamo/kv_router/prefix_index.hpp"
#include "dynamo/kv_router/sync_codec.hpp"
#include "dynamo/log.hpp"
#include "dynamo/metrics.hpp"
#include "dynamo/plane/registration.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dynamo::actors {

/// Settings of KV-aware routing (flags "--<router>.kv-*", "--<router>.overlap-weight", ...).
struct kv_routing_config {
  /// true: the index is fed by the workers' KV events; false: approximate mode (the router
  /// records its own decisions, which expire after approx_ttl).
  bool use_events = true;
  double overlap_weight = 1.0;   ///< Weight of prefill blocks in the cost (>= 0).
  double temperature = 0.0;      ///< Softmax temperature (0 = argmin).
  /// Tokens per KV block; every worker must use it. 0 = adopt the first worker's.
  uint32_t block_size = 0;
  std::chrono::milliseconds approx_ttl{120000};  ///< Approximate mode: life of a decision.
  uint64_t approx_max_blocks = 1u << 20;         ///< Approximate mode: bound before pruning.
  uint64_t index_max_blocks = 0;                 ///< Bound of the index (0 = unbounded).
  double busy_kv_usage = 0.0;        ///< A worker is busy above this KV usage (0 = off).
  uint64_t busy_prefill_tokens = 0;  ///< ... or above this many active prefill tokens (0 = off).
  uint32_t busy_active_requests = 0; ///< ... or above this many active requests (0 = off).
  /// A tracked request without a finish for this long stops counting as load.
  std::chrono::milliseconds active_expiry{300000};
  uint32_t max_expected_output = 1024;  ///< Cap of max_tokens counted as expected output.

  /// Registers the fields under `prefix` (e.g. "router").
  void bind(option_set& opts, const std::string& prefix);
};

/// Checks the settings (weights, temperature and thresholds finite and >= 0). Errors:
/// invalid_request naming the field.
caf::error validate(const kv_routing_config& cfg);

/// The block hash scheme a KV-aware router accepts (what every engine here publishes).
std::string expected_hash_scheme();

/// Counters of a router's KV routing (for stats and tests).
struct kv_routing_stats {
  uint64_t decisions = 0;
  uint64_t matched_blocks = 0;   ///< Sum of the chosen workers' overlap blocks.
  uint64_t prompt_blocks = 0;    ///< Sum of the prompts' full blocks.
  uint64_t indexed_blocks = 0;   ///< (worker, block) entries in the index.
  uint64_t rejected_workers = 0; ///< Registrations refused (block size / hash scheme).
  uint64_t sync_applied = 0;     ///< Replica events applied.
};

/// KV-aware routing state of one router.
class kv_routing {
public:
  /// `labels` are the router's base metric labels; `self_id` names this router in sync events.
  kv_routing(kv_routing_config cfg, uint64_t seed, std::string self_id,
             metrics_registry& metrics, label_set labels, logger_ptr log);

  /// The index (shared with the event ingester).
  const std::shared_ptr<kv_router::prefix_index>& index() const noexcept { return index_; }

  /// Accepts a worker for KV routing. Errors: invalid_request naming the mismatch when its
  /// registration lacks a block size, has another block size than the router, or another hash
  /// scheme (the worker must then not be routed to: a silent miss would look like a cold cache).
  caf::error add_worker(uint64_t worker, const instance_registration& reg);
  /// Forgets a worker: its load, its decisions and (approximate mode) its index entries.
  /// Event mode leaves the index to the ingester. Returns the ids of its tracked requests.
  std::vector<uint64_t> remove_worker(uint64_t worker);
  /// True when the worker was accepted by add_worker.
  bool has_worker(uint64_t worker) const;

  /// The load valve: true when every accepted worker outside `exclude` is busy.
  bool all_busy(std::span<const uint64_t> exclude = {}) const;

  /// Picks a worker for `req` (never one in `exclude`) and tracks its load (the decision's
  /// `tracked` is what replica sync publishes). Errors: unavailable (no accepted worker), invalid_request (the
  /// id is being routed already).
  caf::expected<kv_router::route_decision> schedule(const generate_request& req,
                                                    std::span<const uint64_t> exclude);
  /// Request `id` produced its first token. Returns whether it was tracked.
  bool prefill_done(uint64_t id);
  /// Request `id` ended. Returns whether it was tracked.
  bool finish(uint64_t id);
  /// Applies replica sync events from another router (own events are skipped).
  void apply_sync(const std::vector<kv_router::sync_event>& events);

  /// Periodic upkeep: expires approximate entries and stale loads, refreshes gauges.
  void tick();

  /// The router's block size (0 until known).
  uint32_t block_size() const noexcept { return block_size_; }
  /// The current load the router tracks for `worker`.
  kv_router::load_snapshot load(uint64_t worker) const;
  /// Counters.
  kv_routing_stats stats() const;
  /// Settings.
  const kv_routing_config& config() const noexcept { return cfg_; }

private:
  struct worker_gauges {
    gauge* prefill_tokens = nullptr;
    gauge* decode_blocks = nullptr;
    gauge* active_requests = nullptr;
  };

  void update_gauges(uint64_t worker);
  void ensure_scheduler(uint32_t block_size);

  kv_routing_config cfg_;
  uint64_t seed_;
  std::string self_id_;
  metrics_registry* metrics_;
  label_set labels_;
  logger_ptr log_;
  uint32_t block_size_ = 0;
  std::shared_ptr<kv_router::prefix_index> index_;
  std::unique_ptr<kv_router::kv_scheduler> scheduler_;
  std::unique_ptr<kv_router::decision_log> decisions_;
  std::map<uint64_t, uint64_t> workers_;  // accepted worker -> total KV blocks
  std::map<uint64_t, worker_gauges> gauges_;
  kv_routing_stats stats_;
  histogram* m_overlap_ = nullptr;
  counter* m_matched_ = nullptr;
  counter* m_prompt_ = nullptr;
  gauge* m_hit_rate_ = nullptr;
  gauge* m_index_blocks_ = nullptr;
  gauge* m_index_bytes_ = nullptr;
  counter* m_rejected_workers_ = nullptr;
  histogram* m_hashing_ = nullptr;
};

} // namespace dynamo::actors
