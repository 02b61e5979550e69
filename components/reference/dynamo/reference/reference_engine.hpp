// The reference engine: real transformer inference on the CPU behind the engine interface. The
// shared continuous-batching scheduler plans each step; the model_runner computes the batch over
// the paged KV cache; the sampler picks tokens from a per-request counter-based random stream.
#pragma once

#include "dynamo/batching/scheduler.hpp"
#include "dynamo/engine/engine.hpp"
#include "dynamo/log.hpp"
#include "dynamo/model/checkpoint.hpp"
#include "dynamo/reference/kv_cache.hpp"
#include "dynamo/reference/model_runner.hpp"
#include "dynamo/reference/reference_config.hpp"
#include "dynamo/reference/sampler.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dynamo::reference {

/// Cumulative work of a reference_engine since construction.
struct engine_counters {
  uint64_t steps = 0;            ///< Steps that computed something.
  uint64_t prefill_tokens = 0;   ///< Tokens computed in prefill chunks (cache hits excluded).
  uint64_t decode_tokens = 0;    ///< Tokens computed by decode.
  uint64_t preemptions = 0;      ///< Sequences preempted (and later recomputed).
  /// Compute time (forward and sampling) of steps that prefilled at least one token.
  std::chrono::nanoseconds prefill_time{0};
  /// Compute time of decode-only steps.
  std::chrono::nanoseconds decode_time{0};
};

/// A CPU engine for Llama-family checkpoints. Single-threaded like every engine (the runner
/// uses its own compute threads inside step()); owned and called by one worker.
class reference_engine final : public engine::engine {
public:
  /// Validates `cfg`, opens the checkpoint in cfg.model_dir, loads the weights and allocates a KV
  /// pool of min(total_kv_blocks, kv_cache_bytes / bytes per block) blocks; max_model_len is
  /// capped by the model's max_position_embeddings. Errors: invalid_request for a bad config or
  /// checkpoint (naming the field or file), overloaded when the KV pool cannot be allocated. A
  /// cfg.eos_token_id joins the model's EOS ids. A null `log` falls back to
  /// default_logger("reference"). A non-empty `provider` supplies the KV pool's memory (called
  /// once, after the weights loaded; its error is returned as is; internal for a null or
  /// misaligned pointer); the engine zero-fills it and kv_pool() exposes it.
  static caf::expected<std::unique_ptr<reference_engine>>
  make(reference_config cfg, logger_ptr log,
       dynamo::engine::kv_memory_provider provider = {});

  ~reference_engine() override;

  /// "reference".
  std::string name() const override;

  /// See engine::admit. Also invalid_request for a token id outside the vocabulary or insane
  /// sampling parameters. Every EOS id is a stop token unless ignore_eos. The token stream is
  /// keyed by the request's seed if set, else by config seed and request id if the config seed
  /// is non-zero, else by a fresh random value.
  caf::error admit(dynamo::engine::sequence_request req) override;

  /// See engine::cancel.
  bool cancel(dynamo::engine::request_id id) override;

  /// See engine::has_work.
  bool has_work() const override;

  /// Plans one step, runs the model over it and samples; delay is always zero.
  dynamo::engine::step_result step() override;

  /// See engine::stats.
  dynamo::engine::engine_stats stats() const override;

  /// See engine::set_kv_event_sink.
  void set_kv_event_sink(dynamo::engine::kv_event_sink sink) override;

  /// See engine::kv_snapshot (the shared scheduler's prefix cache).
  std::vector<dynamo::engine::kv_event> kv_snapshot() const override;

  /// See engine::release_held. Engine thread.
  bool release_held(dynamo::engine::request_id id) override;

  /// See engine::held_blocks; block indices address kv(). Engine thread.
  caf::expected<dynamo::engine::held_kv>
  held_blocks(dynamo::engine::request_id id) const override;

  /// See engine::admit_remote: validates `req` as admit() does and keys its token stream the
  /// same way, so that a split run samples what an aggregated run would. The caller writes the
  /// KV of positions [cached_tokens, prompt length) into kv().region(layer, blocks[i]) before
  /// complete_remote. Engine thread.
  caf::expected<dynamo::engine::remote_kv>
  admit_remote(dynamo::engine::sequence_request req) override;

  /// See engine::complete_remote; also invalid_request for a token outside the vocabulary.
  /// The first token is reported at the head of the next step()'s outputs. Engine thread.
  caf::error complete_remote(dynamo::engine::request_id id,
                             dynamo::engine::token_id first_token) override;

  /// The KV pool as the data plane sees it: kv()'s memory, layers x total_kv_blocks regions of
  /// kv_geometry::region_bytes(), region (layer, block) == kv().region(layer, block). Engine
  /// thread; never empty.
  dynamo::engine::kv_pool_view kv_pool() override;

  /// True: step() computes (its worker runs on a thread of its own).
  bool computes() const noexcept override { return true; }

  /// The KV pool (for the data plane). Engine thread only.
  kv_cache& kv() noexcept { return runner_->kv(); }

  /// The block table of a running, held or awaiting_kv sequence (block i holds positions
  /// [i * block_size, (i + 1) * block_size)); empty for an unknown, waiting or finished
  /// request. Engine thread.
  std::vector<uint32_t> block_table(dynamo::engine::request_id id) const;

  /// The architecture being served.
  const model::model_config& model() const noexcept { return checkpoint_.config; }

  /// The configuration in effect (total_kv_blocks and max_model_len as actually used).
  const reference_config& config() const noexcept { return cfg_; }

  /// Cumulative work and timing. Engine thread.
  engine_counters counters() const noexcept;

  /// The EOS ids in use: generation_config.json's (else config.json's) plus the configured one;
  /// sorted, unique.
  const std::vector<dynamo::engine::token_id>& eos_token_ids() const noexcept { return eos_; }

private:
  reference_engine(reference_config cfg, logger_ptr log, model::checkpoint ckpt,
                   std::unique_ptr<model_runner> runner,
                   std::vector<dynamo::engine::token_id> eos);

  uint64_t stream_seed(const dynamo::engine::sequence_request& req);
  caf::error prepare(dynamo::engine::sequence_request& req) const;

  reference_config cfg_;
  logger_ptr log_;
  model::checkpoint checkpoint_;          // outlives runner_: weights may be used in place
  std::unique_ptr<model_runner> runner_;
  batching::scheduler scheduler_;
  std::vector<dynamo::engine::token_id> eos_;
  uint32_t vocab_;
  uint64_t random_state_;                 // SplitMix64 state for requests without any seed
  std::vector<forward_item> items_;
  std::vector<float> logits_;
  sampler_scratch scratch_;
  engine_counters counters_;
};

} // namespace dynamo::reference
