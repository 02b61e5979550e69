// The continuous-batching scheduler shared by every engine, modelled on vLLM: a FIFO waiting queue, a running
// set in admission order, a per-step token budget, chunked prefill, prefix-cache-aware admission
// and LIFO preemption with recompute when decode runs out of KV blocks.
#pragma once

#include "dynamo/engine/types.hpp"
#include "dynamo/log.hpp"
#include "dynamo/batching/kv_block_manager.hpp"
#include "dynamo/batching/scheduler_config.hpp"
#include "dynamo/batching/sequence.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace dynamo::batching {

/// Work given to one sequence in one step.
struct scheduled_work {
  sequence* seq = nullptr;  ///< Borrowed from the scheduler; valid until the next schedule().
  uint32_t tokens = 0;      ///< Tokens computed for it this step.
  bool prefill = false;     ///< A prefill chunk (true) or a decode token (false).
};

/// The plan of one step.
struct step_batch {
  std::vector<scheduled_work> work;  ///< Decodes first, then prefill chunks.
  uint64_t prefill_tokens = 0;       ///< Uncached tokens prefilled this step.
  uint32_t decode_sequences = 0;     ///< Sequences decoding one token this step.
  uint64_t kv_tokens = 0;            ///< KV tokens held by running sequences during the step.
  uint32_t preempted = 0;            ///< Sequences preempted while planning this step.
};

/// Continuous-batching scheduler over a kv_block_manager it owns. Single-threaded: owned by one
/// engine and called from its thread only.
class scheduler {
public:
  /// Picks the next token of a sequence that finished a prefill or decoded this step; gets the
  /// sequence and the index of its work item in the step's batch (the row of its logits).
  using token_picker = std::function<engine::token_id(const sequence&, size_t work_index)>;

  /// Precondition: validate(cfg) passed (on_internal_error otherwise). A null `log` falls back
  /// to default_logger("scheduler").
  scheduler(const scheduler_config& cfg, logger_ptr log);

  /// Queues a request at the back of the waiting queue. Errors: invalid_request (empty prompt,
  /// max_tokens 0, duplicate id, prompt + max_tokens > max_model_len, more KV blocks than the
  /// pool holds), overloaded (max_waiting sequences already wait). `stream_seed` is stored in
  /// the sequence for the engine's token picker.
  /// A hold_kv request must have max_tokens 1 (invalid_request otherwise): after its first
  /// token it is held (phase held) with its blocks referenced until release_held(id).
  caf::error admit(engine::sequence_request req, uint64_t stream_seed);

  /// Admits a sequence whose prompt KV is computed elsewhere (see engine::admit_remote):
  /// reuses cached leading blocks of the prompt, allocates the rest now and parks it in phase
  /// awaiting_kv. Errors: as admit (hold_kv is invalid_request here), overloaded when the
  /// blocks or a sequence slot (max_num_seqs counts running and awaiting sequences) are not
  /// available now.
  caf::expected<engine::remote_kv> admit_remote(engine::sequence_request req,
                                                uint64_t stream_seed);

  /// Marks the prompt of an awaiting_kv sequence computed, registers its full blocks, takes
  /// `first_token` as its first sampled token and makes it decode (or finish, for a stop token
  /// or max_tokens 1). Its output is queued and reported first by the next complete(). Errors:
  /// not_found (unknown id), invalid_request (not awaiting its KV).
  caf::error complete_remote(engine::request_id id, engine::token_id first_token);

  /// Frees the blocks of a held sequence and forgets it; false if `id` is not held.
  bool release_held(engine::request_id id);

  /// The blocks and KV positions of a held sequence; not_found if `id` is not held.
  caf::expected<engine::held_kv> held_blocks(engine::request_id id) const;

  /// Drops a waiting, running, awaiting_kv or held sequence and frees its blocks at once (and
  /// discards its queued output, if any); false if unknown.
  bool cancel(engine::request_id id);

  /// True while some sequence is waiting or running or an output is queued (held and
  /// awaiting_kv sequences are no work).
  bool has_work() const noexcept {
    return !waiting_.empty() || !running_.empty() || !queued_outputs_.empty();
  }

  /// Plans the next step: allocates blocks, preempts if needed, admits from waiting. The result
  /// stays valid until complete() or the next schedule(); call complete() before anything else.
  const step_batch& schedule();

  /// Applies the planned step (an empty plan is fine): first moves queued outputs (of
  /// complete_remote) to `out`, then advances computed tokens, registers newly full blocks, asks
  /// `pick` for one token for every sequence whose prefill completed or that decoded, appends
  /// one output per picked token to `out`, and drops finished sequences (their blocks are
  /// released tail-first).
  void complete(std::vector<engine::sequence_output>& out, const token_picker& pick);

  /// The waiting or running sequence `id`, or nullptr. Valid until the next call that changes
  /// the scheduler (admit, cancel, schedule, complete).
  const sequence* find(engine::request_id id) const;

  /// Load and capacity as an engine reports them (engine::engine::stats).
  engine::engine_stats stats() const noexcept;

  /// The block pool (for statistics and tests).
  const kv_block_manager& kv() const noexcept { return kv_; }

  /// The prefix cache as stored events (kv_block_manager::snapshot; see engine::kv_snapshot).
  std::vector<engine::kv_event> kv_snapshot() const { return kv_.snapshot(); }

  /// Installs the receiver of KV events.
  void set_kv_event_sink(engine::kv_event_sink sink) { kv_.set_event_sink(std::move(sink)); }

  /// Sequences waiting (new and preempted).
  uint32_t waiting_count() const noexcept { return static_cast<uint32_t>(waiting_.size()); }

  /// Sequences running (prefilling or decoding).
  uint32_t running_count() const noexcept { return static_cast<uint32_t>(running_.size()); }

  /// Tokens still to prefill over all waiting and prefilling sequences (waiting sequences count
  /// every token: their cache hits are only known at admission).
  uint64_t prefill_tokens_pending() const noexcept { return pending_prefill_; }

  /// KV tokens computed and held by running sequences.
  uint64_t kv_tokens() const noexcept { return kv_tokens_; }

  /// Sequences awaiting their KV (admit_remote).
  uint32_t awaiting_count() const noexcept { return awaiting_; }

  /// Blocks referenced by held sequences.
  uint64_t held_block_count() const noexcept { return held_blocks_; }

  /// Preemptions since construction.
  uint64_t preemptions() const noexcept { return preemptions_; }

private:
  uint64_t blocks_for(uint64_t tokens) const noexcept;
  caf::error check_request(const engine::sequence_request& req) const;
  std::unique_ptr<sequence> make_sequence(engine::sequence_request&& req, uint64_t stream_seed);
  uint32_t slots_taken() const noexcept;
  bool reserve_decode_slot(sequence& seq);
  void preempt_last();
  bool try_admit_head(uint32_t& budget);
  void register_computed(sequence& seq);
  void finish_token(sequence& seq, engine::token_id token,
                    std::vector<engine::sequence_output>& out);
  void drop(sequence& seq);
  void hold(sequence& seq);

  scheduler_config cfg_;
  logger_ptr log_;
  kv_block_manager kv_;
  uint64_t watermark_blocks_;
  std::unordered_map<engine::request_id, std::unique_ptr<sequence>> sequences_;
  std::deque<sequence*> waiting_;
  std::vector<sequence*> running_;  // admission order; the back is preempted first
  step_batch batch_;
  uint64_t pending_prefill_ = 0;
  uint64_t kv_tokens_ = 0;
  uint64_t preemptions_ = 0;
  uint32_t awaiting_ = 0;
  uint64_t held_blocks_ = 0;
  std::vector<engine::sequence_output> queued_outputs_;
};

} // namespace dynamo::batching
