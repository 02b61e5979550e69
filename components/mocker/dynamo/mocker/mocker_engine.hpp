// The mocker: an inference engine that schedules and caches like a real one but computes
// nothing. Each step reports how long the real step would have taken. With a simulated KV pool
// (kv_bytes_per_token > 0) prefill writes deterministic bytes, so that disaggregated transfers
// move real data that complete_remote can check.
#pragma once

#include "dynamo/engine/engine.hpp"
#include "dynamo/log.hpp"
#include "dynamo/mocker/mocker_config.hpp"
#include "dynamo/batching/scheduler.hpp"
#include "dynamo/mocker/kv_pool.hpp"
#include "dynamo/mocker/timing_model.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dynamo::mocker {

/// Simulated engine: vLLM-like scheduling over a paged, prefix-cached KV pool, deterministic
/// output tokens and a latency model. Single-threaded like every engine.
class mocker_engine final : public engine::engine {
public:
  /// Precondition: validate(cfg) passes and, with cfg.kv_bytes_per_token > 0, the KV pool can
  /// be had (on_internal_error otherwise; use make() for config or a provider that may fail).
  /// A null `log` falls back to default_logger("mocker"). A non-empty `provider` supplies the
  /// simulated KV pool's memory (only called when cfg.kv_bytes_per_token > 0).
  mocker_engine(mocker_config cfg, logger_ptr log,
                dynamo::engine::kv_memory_provider provider = {});

  /// Validates `cfg` and builds an engine. Errors: invalid_request naming the bad field; for a
  /// pool (kv_bytes_per_token > 0) the provider's error as is, internal for a null or
  /// misaligned pointer from it, overloaded when the own pool cannot be mapped.
  static caf::expected<std::unique_ptr<mocker_engine>>
  make(mocker_config cfg, logger_ptr log, dynamo::engine::kv_memory_provider provider = {});

  /// "mocker".
  std::string name() const override;

  /// See engine::admit.
  caf::error admit(dynamo::engine::sequence_request req) override;

  /// See engine::cancel.
  bool cancel(dynamo::engine::request_id id) override;

  /// See engine::has_work.
  bool has_work() const override;

  /// Plans and applies one step; delay is the simulated step time divided by speedup_ratio.
  dynamo::engine::step_result step() override;

  /// See engine::stats.
  dynamo::engine::engine_stats stats() const override;

  /// See engine::set_kv_event_sink.
  void set_kv_event_sink(dynamo::engine::kv_event_sink sink) override;

  /// See engine::kv_snapshot (the shared scheduler's prefix cache).
  std::vector<dynamo::engine::kv_event> kv_snapshot() const override;

  /// See engine::release_held.
  bool release_held(dynamo::engine::request_id id) override;

  /// See engine::held_blocks (block indices are the simulated pool's).
  caf::expected<dynamo::engine::held_kv>
  held_blocks(dynamo::engine::request_id id) const override;

  /// See engine::admit_remote; the output stream is keyed as admit() keys it.
  caf::expected<dynamo::engine::remote_kv>
  admit_remote(dynamo::engine::sequence_request req) override;

  /// See engine::complete_remote; the first token is reported with the next step's outputs.
  /// With a KV pool, first checks the content of the prompt blocks past cached_tokens against
  /// what a prefill of the same prompt writes: errc::internal "KV content mismatch" naming the
  /// first bad block and layer, and the sequence stays awaiting (the caller cancels it).
  caf::error complete_remote(dynamo::engine::request_id id,
                             dynamo::engine::token_id first_token) override;

  /// The simulated KV pool: kv_layers x total_kv_blocks regions of block_size *
  /// kv_bytes_per_token / kv_layers bytes; empty when kv_bytes_per_token is 0. Every block a
  /// prefill computes holds content that is a pure function of the block's tokens, its
  /// position in the sequence and the layer. Engine thread.
  dynamo::engine::kv_pool_view kv_pool() override;

  /// The configuration in use.
  const mocker_config& config() const noexcept { return cfg_; }

  /// Preemptions since construction.
  uint64_t preemptions() const noexcept { return scheduler_.preemptions(); }

private:
  mocker_engine(std::in_place_t, mocker_config cfg, logger_ptr log,
                std::optional<simulated_kv_pool> pool);

  void write_kv(const batching::step_batch& batch) noexcept;
  caf::error verify_kv(const batching::sequence& seq) const;

  mocker_config cfg_;
  logger_ptr log_;
  batching::scheduler scheduler_;
  timing_model timing_;
  double kv_capacity_tokens_;
  std::optional<simulated_kv_pool> pool_;  // empty when kv_bytes_per_token == 0
};

} // namespace dynamo::mocker
