// The worker's settings and engine construction: flags, model path resolution, make_engine.
#include "dynamo/actors/worker/worker.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/mocker/mocker_engine.hpp"
#include "dynamo/model/synthesize.hpp"
#include "dynamo/reference/reference_engine.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <system_error>
#include <utility>

namespace dynamo::actors {

void worker_config::bind(option_set& opts, const std::string& prefix) {
  opts.add(model, prefix + ".model", "model name served by this worker (default: the checkpoint "
           "directory's name)", "DYN_MODEL_NAME");
  opts.add(engine, prefix + ".engine", "engine: reference (real inference on the CPU) or mocker");
  opts.add(model_path, prefix + ".model-path", "Hugging Face checkpoint directory");
  opts.add(synthesize, prefix + ".synthesize",
           "synthesizer preset (tiny, small-100m) to generate into the model path when it holds "
           "no checkpoint");
  opts.add(default_model_path, prefix + ".default-model-path",
           "the reference engine's model path when --model is not given");
  opts.add(load_interval, prefix + ".load-interval", "minimum gap between load publications");
  opts.add(kv_event_history, prefix + ".kv-event-history",
           "newest KV events kept for routers' gap replays (>= 1; older gaps get a full dump)");
  opts.add(scheduler.block_size, prefix + ".block-size", "tokens per KV block");
  opts.add(scheduler.total_kv_blocks, prefix + ".num-gpu-blocks", "KV blocks in the pool");
  opts.add(scheduler.max_num_seqs, prefix + ".max-num-seqs", "most sequences running at once");
  opts.add(scheduler.max_num_batched_tokens, prefix + ".max-num-batched-tokens",
           "token budget of one engine step");
  opts.add(scheduler.enable_prefix_caching, prefix + ".enable-prefix-caching",
           "reuse cached KV blocks by prefix hash");
  opts.add(scheduler.enable_chunked_prefill, prefix + ".enable-chunked-prefill",
           "split long prefills across steps");
  opts.add(scheduler.max_model_len, prefix + ".max-model-len", "most prompt + generated tokens");
  opts.add(scheduler.max_waiting, prefix + ".max-waiting", "engine queue bound (then overloaded)");
  opts.add(mocker.speedup_ratio, prefix + ".speedup-ratio",
           "mocker: divide the simulated step durations by this", "DYN_MOCKER_SPEEDUP");
  opts.add(mocker.kv_bytes_per_token, prefix + ".kv-bytes-per-token",
           "mocker: KV bytes one token adds over all layers (0 = no KV content; disaggregated "
           "serving moves these bytes)");
  opts.add(mocker.kv_layers, prefix + ".kv-layers",
           "mocker: layers the KV bytes are split into (the data plane moves them per layer)");
  opts.add(remote_prefill_timeout, prefix + ".remote-prefill-timeout",
           "decode workers: longest wait for a prefill worker before the prefill is cancelled");
  opts.add(remote_prefill_fallback, prefix + ".remote-prefill-fallback",
           "decode workers: prefill locally when a remote prefill fails (else fail the request)");
  disagg.bind(opts, prefix + ".disagg");
  opts.add(reference.threads, prefix + ".threads",
           "reference engine: compute threads (0 = one per CPU)");
  opts.add(reference.kv_cache_bytes, prefix + ".kv-cache-bytes",
           "reference engine: upper bound of the KV pool in bytes");
  // Short forms, shared by every worker component of the graph (the prefill and decode workers
  // of a disaggregated one must agree on them); --<name>.engine etc. set one component.
  for (const auto& [flag, key] : {std::pair{"model", ".model-path"},
                                  std::pair{"served-model-name", ".model"},
                                  std::pair{"engine", ".engine"}})
    if (!opts.taken(flag) || opts.is_shared_alias(flag))
      opts.shared_alias(flag, prefix + key);
}

worker_config resolve_model_path(worker_config cfg) {
  if (cfg.model_path.empty() && cfg.engine == "reference")
    cfg.model_path = cfg.default_model_path;
  return cfg;
}

std::string served_model_name(const worker_config& cfg) {
  if (!cfg.model.empty())
    return cfg.model;
  if (cfg.model_path.empty())
    return "mock-model";
  auto dir = std::filesystem::path{cfg.model_path}.lexically_normal();
  if (!dir.has_filename())
    dir = dir.parent_path();
  return dir.filename().string();
}

caf::expected<std::unique_ptr<engine::engine>>
make_engine(const worker_config& cfg, logger_ptr log, engine::kv_memory_provider provider) {
  if (cfg.engine != "reference" && cfg.engine != "mocker")
    return make_error(errc::invalid_request,
                      fmt::format("unknown engine '{}': use reference or mocker", cfg.engine));
  std::error_code ec;
  auto has_checkpoint = [&cfg, &ec] {
    return std::filesystem::is_regular_file(std::filesystem::path{cfg.model_path} / "config.json",
                                            ec);
  };
  if (!cfg.synthesize.empty() && !cfg.model_path.empty() && !has_checkpoint()) {
    auto dir = model::ensure_synthesized(cfg.synthesize, cfg.model_path, log);
    // Replicas started together race to write it: one that lost finds the winner's model.
    if (!dir && !has_checkpoint())
      return std::move(dir.error());
  }
  if (cfg.engine == "mocker") {
    mocker::mocker_config mc;
    static_cast<batching::scheduler_config&>(mc) = cfg.scheduler;
    static_cast<mocker::simulation_config&>(mc) = cfg.mocker;
    // Tokens depend on the request only (not on the replica), so every replica answers alike.
    auto engine = mocker::mocker_engine::make(std::move(mc), std::move(log),
                                              std::move(provider));
    if (!engine)
      return std::move(engine.error());
    return std::unique_ptr<engine::engine>{std::move(*engine)};
  }
  if (cfg.model_path.empty())
    return make_error(errc::invalid_request,
                      "the reference engine needs a checkpoint: pass --model DIR");
  reference::reference_config rc;
  static_cast<batching::scheduler_config&>(rc) = cfg.scheduler;
  static_cast<reference::compute_config&>(rc) = cfg.reference;
  rc.model_dir = cfg.model_path;
  auto engine = reference::reference_engine::make(std::move(rc), std::move(log),
                                                    std::move(provider));
  if (!engine)
    return std::move(engine.error());
  return std::unique_ptr<engine::engine>{std::move(*engine)};
}

std::string kv_events_subject(const component_id& component) {
  return component.ns + '.' + component.component + ".kv_events";
}

std::string load_subject(const component_id& component) {
  return component.ns + '.' + component.component + ".load";
}

std::string encode_load(uint64_t worker, const engine::engine_stats& s, size_t active_requests) {
  nlohmann::json j;
  j["worker_id"] = worker;
  j["kv_block_size"] = s.kv_block_size;
  j["total_kv_blocks"] = s.total_kv_blocks;
  j["active_kv_blocks"] = s.active_kv_blocks;
  j["cached_kv_blocks"] = s.cached_kv_blocks;
  j["waiting"] = s.waiting_sequences;
  j["running"] = s.running_sequences;
  j["prefill_tokens_pending"] = s.prefill_tokens_pending;
  j["held_kv_blocks"] = s.held_kv_blocks;
  j["awaiting_kv"] = s.awaiting_kv_sequences;
  j["active_requests"] = active_requests;
  return j.dump();
}

} // namespace dynamo::actors
