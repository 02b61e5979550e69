#include "dynamo/reference/model_runner.hpp"

#include "dynamo/error.hpp"
#include "dynamo/reference/attention.hpp"
#include "dynamo/reference/kernels.hpp"
#include "dynamo/reference/rope.hpp"
#include "dynamo/reference/thread_pool.hpp"
#include "dynamo/reference/weights.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>

namespace dynamo::reference {

namespace {

// Alignment a provided KV pool must have (engine::kv_memory_provider's contract).
constexpr uintptr_t kv_memory_alignment = 64;

// Rows below which per-row work runs on the calling thread (waking the pool costs more).
constexpr size_t parallel_rows = 8;

// Grows `v` to at least n elements (never shrinks: buffers are reused across calls).
void ensure(std::vector<float>& v, size_t n) {
  if (v.size() < n)
    v.resize(n);
}

// Checks the config facts the kernels rely on.
caf::error check_config(const model::model_config& c) {
  auto bad = [](std::string what) { return make_error(errc::invalid_request, std::move(what)); };
  if (c.hidden_size == 0 || c.intermediate_size == 0 || c.num_hidden_layers == 0
      || c.vocab_size == 0 || c.num_attention_heads == 0 || c.num_key_value_heads == 0)
    return bad("config.json: sizes, layer and head counts must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return bad(fmt::format("config.json: num_attention_heads {} is not a multiple of "
                           "num_key_value_heads {}",
                           c.num_attention_heads, c.num_key_value_heads));
  if (c.head_dim == 0 || c.head_dim % 2 != 0 || c.head_dim > max_head_dim)
    return bad(fmt::format("config.json: head_dim {} must be even and at most {}", c.head_dim,
                           max_head_dim));
  return {};
}

// The concrete runner: Llama / Mistral / Qwen2 decoder stacks.
class llama_runner final : public model_runner {
public:
  llama_runner(const model::model_config& cfg, std::unique_ptr<model_weights> weights,
               const runner_options& opts, const kv_geometry& geometry, std::byte* kv_memory,
               logger_ptr log)
    : cfg_(cfg),
      weights_(std::move(weights)),
      pool_(opts.threads),
      kv_(geometry, kv_memory),
      log_(std::move(log)),
      inv_freq_(rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope)) {
    if (cfg_.sliding_window)
      cfg_.max_position_embeddings = std::min(cfg_.max_position_embeddings, *cfg_.sliding_window);
    hidden_ = cfg.hidden_size;
    inter_ = cfg.intermediate_size;
    hd_ = cfg.head_dim;
    heads_ = cfg.num_attention_heads;
    kv_heads_ = cfg.num_key_value_heads;
    q_cols_ = size_t{heads_} * hd_;
    kv_cols_ = size_t{kv_heads_} * hd_;
    qkv_cols_ = q_cols_ + 2 * kv_cols_;
    eps_ = static_cast<float>(cfg.rms_norm_eps);
    scale_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd_)));
  }

  void forward(std::span<const forward_item> items, std::vector<float>& logits) override;

  const model::model_config& config() const noexcept override {
    return cfg_;
  }

  kv_cache& kv() noexcept override {
    return kv_;
  }

  uint32_t threads() const noexcept override {
    return pool_.size();
  }

private:
  void check(std::span<const forward_item> items) const;
  void prepare(std::span<const forward_item> items);
  void run_layer(uint32_t layer);
  void compute_logits(std::span<const forward_item> items, std::vector<float>& logits);

  // Calls fn(row) for rows [0, n), on the pool when there are enough of them.
  template <class F>
  void for_rows(size_t n, F&& fn) {
    auto chunk = [&fn](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r)
        fn(r);
    };
    if (n < parallel_rows)
      chunk(0, n);
    else
      pool_.parallel_for(n, chunk);
  }

  model::model_config cfg_;
  std::unique_ptr<model_weights> weights_;
  thread_pool pool_;
  kv_cache kv_;
  logger_ptr log_;
  std::vector<float> inv_freq_;
  size_t hidden_ = 0;
  size_t inter_ = 0;
  uint32_t hd_ = 0;
  uint32_t heads_ = 0;
  uint32_t kv_heads_ = 0;
  size_t q_cols_ = 0;
  size_t kv_cols_ = 0;
  size_t qkv_cols_ = 0;
  float eps_ = 0;
  float scale_ = 1;

  // Per-call state and scratch, reused across calls.
  size_t rows_ = 0;                        // Tokens in this call.
  std::vector<attention_seq> seqs_;        // One per item.
  std::vector<uint32_t> positions_;        // [rows] position of each token.
  std::vector<const uint32_t*> tables_;    // [rows] block table of each token's item.
  std::vector<float> x_;                   // [rows, hidden] residual stream.
  std::vector<float> h_;                   // [rows, hidden] normalized activations.
  std::vector<float> qkv_;                 // [rows, q + 2 kv] projections.
  std::vector<float> attn_;                // [rows, q] attention output.
  std::vector<float> gate_up_;             // [rows, 2 * intermediate].
  std::vector<float> rope_;                // [rows, head_dim]: cos then sin halves.
  std::vector<float> last_;                // [wanted, hidden] final hidden states.
  std::vector<size_t> wanted_;             // Items whose logits are wanted.
};

void llama_runner::check(std::span<const forward_item> items) const {
  const auto& g = kv_.geometry();
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    if (it.tokens.empty())
      on_internal_error(fmt::format("model_runner::forward: item {} has no tokens", i));
    uint64_t end = uint64_t{it.start} + it.tokens.size();
    if (end > cfg_.max_position_embeddings)
      on_internal_error(fmt::format("model_runner::forward: item {} reaches position {}, the "
                                    "model supports {}",
                                    i, end, cfg_.max_position_embeddings));
    uint64_t blocks = (end + g.block_size - 1) / g.block_size;
    if (it.block_table.size() < blocks)
      on_internal_error(fmt::format("model_runner::forward: item {} needs {} blocks, its "
                                    "table has {}",
                                    i, blocks, it.block_table.size()));
    for (uint64_t b = 0; b < blocks; ++b)
      if (it.block_table[b] >= g.blocks)
        on_internal_error(fmt::format("model_runner::forward: item {} uses block {}, the pool "
                                      "has {}",
                                      i, it.block_table[b], g.blocks));
    for (auto t : it.tokens)
      if (t >= cfg_.vocab_size)
        on_internal_error(fmt::format("model_runner::forward: item {} has token {}, the "
                                      "vocabulary has {}",
                                      i, t, cfg_.vocab_size));
  }
}

void llama_runner::prepare(std::span<const forward_item> items) {
  rows_ = 0;
  seqs_.clear();
  for (const auto& it : items) {
    seqs_.push_back({rows_, static_cast<uint32_t>(it.tokens.size()), it.start, it.block_table});
    rows_ += it.tokens.size();
  }
  positions_.resize(rows_);
  tables_.resize(rows_);
  ensure(x_, rows_ * hidden_);
  ensure(h_, rows_ * hidden_);
  ensure(qkv_, rows_ * qkv_cols_);
  ensure(attn_, rows_ * q_cols_);
  ensure(gate_up_, rows_ * 2 * inter_);
  ensure(rope_, rows_ * hd_);
  size_t row = 0;
  for (const auto& it : items) {
    for (size_t i = 0; i < it.tokens.size(); ++i, ++row) {
      positions_[row] = it.start + static_cast<uint32_t>(i);
      tables_[row] = it.block_table.data();
      std::memcpy(x_.data() + row * hidden_, weights_->embed + size_t{it.tokens[i]} * hidden_,
                  hidden_ * sizeof(float));
    }
  }
  const size_t half = hd_ / 2;
  for_rows(rows_, [this, half](size_t r) {
    float* cs = rope_.data() + r * hd_;
    rope_angles(inv_freq_.data(), half, positions_[r], cs, cs + half);
  });
}

void llama_runner::run_layer(uint32_t layer) {
  const auto& w = weights_->layers[layer];
  const size_t half = hd_ / 2;
  const auto& g = kv_.geometry();
  for_rows(rows_, [this, &w](size_t r) {
    rmsnorm(x_.data() + r * hidden_, w.attn_norm, h_.data() + r * hidden_, hidden_, eps_);
  });
  matmul(pool_, {h_.data(), rows_, hidden_, hidden_}, w.wqkv, w.bqkv,
         {qkv_.data(), rows_, qkv_cols_, qkv_cols_});
  for_rows(rows_, [this, layer, half, &g](size_t r) {
    float* q = qkv_.data() + r * qkv_cols_;
    float* k = q + q_cols_;
    const float* v = k + kv_cols_;
    const float* cs = rope_.data() + r * hd_;
    rope_rotate(q, heads_, half, cs, cs + half);
    rope_rotate(k, kv_heads_, half, cs, cs + half);
    uint32_t pos = positions_[r];
    uint32_t block = tables_[r][pos / g.block_size];
    size_t offset = size_t{pos % g.block_size} * kv_cols_;
    std::memcpy(kv_.keys(layer, block) + offset, k, kv_cols_ * sizeof(float));
    std::memcpy(kv_.values(layer, block) + offset, v, kv_cols_ * sizeof(float));
  });
  attention_args args;
  args.layer = layer;
  args.heads = heads_;
  args.scale = scale_;
  args.q = {qkv_.data(), rows_, q_cols_, qkv_cols_};
  args.out = {attn_.data(), rows_, q_cols_, q_cols_};
  paged_attention(pool_, kv_, args, seqs_);
  matmul(pool_, {attn_.data(), rows_, q_cols_, q_cols_}, w.wo, w.bo,
         {x_.data(), rows_, hidden_, hidden_}, true);
  for_rows(rows_, [this, &w](size_t r) {
    rmsnorm(x_.data() + r * hidden_, w.mlp_norm, h_.data() + r * hidden_, hidden_, eps_);
  });
  matmul(pool_, {h_.data(), rows_, hidden_, hidden_}, w.w_gate_up, nullptr,
         {gate_up_.data(), rows_, 2 * inter_, 2 * inter_});
  for_rows(rows_, [this](size_t r) {
    float* gu = gate_up_.data() + r * 2 * inter_;
    silu_mul(gu, gu + inter_, gu, inter_);
  });
  matmul(pool_, {gate_up_.data(), rows_, inter_, 2 * inter_}, w.w_down, nullptr,
         {x_.data(), rows_, hidden_, hidden_}, true);
}

void llama_runner::compute_logits(std::span<const forward_item> items,
                                  std::vector<float>& logits) {
  const size_t vocab = cfg_.vocab_size;
  logits.resize(items.size() * vocab);
  wanted_.clear();
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].want_logits)
      wanted_.push_back(i);
  if (wanted_.empty())
    return;
  ensure(last_, wanted_.size() * hidden_);
  for (size_t j = 0; j < wanted_.size(); ++j) {
    const auto& seq = seqs_[wanted_[j]];
    size_t row = seq.row + seq.count - 1;
    rmsnorm(x_.data() + row * hidden_, weights_->final_norm, last_.data() + j * hidden_, hidden_,
            eps_);
  }
  // Compact rows first, then moved to their item's row (back to front: row j never moves
  // onto a compact row that is still to be moved).
  matmul(pool_, {last_.data(), wanted_.size(), hidden_, hidden_}, weights_->lm_head, nullptr,
         {logits.data(), wanted_.size(), vocab, vocab});
  for (size_t j = wanted_.size(); j-- > 0;)
    if (wanted_[j] != j)
      std::memmove(logits.data() + wanted_[j] * vocab, logits.data() + j * vocab,
                   vocab * sizeof(float));
}

void llama_runner::forward(std::span<const forward_item> items, std::vector<float>& logits) {
  check(items);
  if (items.empty()) {
    logits.clear();
    return;
  }
  prepare(items);
  for (uint32_t layer = 0; layer < cfg_.num_hidden_layers; ++layer)
    run_layer(layer);
  compute_logits(items, logits);
}

} // namespace

model_runner::~model_runner() = default;

caf::expected<std::unique_ptr<model_runner>>
model_runner::load(const model::checkpoint& ckpt, const runner_options& opts, logger_ptr log) {
  if (!log)
    log = default_logger("reference");
  const auto& cfg = ckpt.config;
  if (auto err = check_config(cfg))
    return err;
  if (opts.block_size == 0 || opts.kv_blocks == 0)
    return make_error(errc::invalid_request, "block_size and kv_blocks must be positive");
  if (opts.kv_blocks > std::numeric_limits<uint32_t>::max())
    return make_error(errc::invalid_request,
                      fmt::format("kv_blocks {} exceeds the block id range", opts.kv_blocks));
  kv_geometry g;
  g.layers = cfg.num_hidden_layers;
  g.kv_heads = cfg.num_key_value_heads;
  g.head_dim = cfg.head_dim;
  g.block_size = opts.block_size;
  g.blocks = opts.kv_blocks;
  size_t pool_bytes = 0;
  if (__builtin_mul_overflow(g.region_bytes(), size_t{g.layers}, &pool_bytes)
      || __builtin_mul_overflow(pool_bytes, g.blocks, &pool_bytes))
    return make_error(errc::invalid_request,
                      fmt::format("a KV pool of {} blocks overflows the address space", g.blocks));
  auto weights = model_weights::load(ckpt, log);
  if (!weights)
    return std::move(weights.error());
  std::byte* kv_memory = nullptr;
  if (opts.kv_memory) {
    auto provided = opts.kv_memory(pool_bytes);
    if (!provided)
      return std::move(provided.error());
    if (*provided == nullptr || reinterpret_cast<uintptr_t>(*provided) % kv_memory_alignment != 0)
      return make_error(errc::internal, "the KV cache memory is unusable",
                        fmt::format("the KV memory provider returned {} for {} bytes; a non-null "
                                    "{}-byte aligned pointer is required",
                                    static_cast<const void*>(*provided), pool_bytes,
                                    kv_memory_alignment));
    kv_memory = *provided;
  }
  try {
    auto runner = std::make_unique<llama_runner>(cfg, std::move(*weights), opts, g, kv_memory,
                                                 log);
    log->info("loaded {} ({} layers, hidden {}, heads {}/{}, vocab {}); KV pool {} blocks of "
              "{} tokens ({:.1f} MiB, {} memory); {} compute threads",
              cfg.architecture, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
              cfg.num_key_value_heads, cfg.vocab_size, g.blocks, g.block_size,
              static_cast<double>(g.total_bytes()) / (1 << 20),
              kv_memory != nullptr ? "provided" : "own", runner->threads());
    return std::unique_ptr<model_runner>{std::move(runner)};
  } catch (const std::bad_alloc&) {
    return make_error(errc::overloaded, "not enough memory for the KV cache",
                      fmt::format("a KV pool of {} bytes cannot be allocated", g.total_bytes()));
  }
}

} // namespace dynamo::reference
