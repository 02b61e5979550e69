// The model synthesizer: writes a small random Llama-family checkpoint in exactly the Hugging
// Face layout (config.json, generation_config.json, safetensors weights, tokenizer.json,
// tokenizer_config.json), so engines and golden tests have real files without downloads.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/model/model_config.hpp"
#include "dynamo/model/safetensors.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace dynamo::model {

/// What to synthesize. Plain value; the defaults are the "tiny" test model.
struct synth_spec {
  uint32_t layers = 2;
  uint32_t hidden = 64;
  uint32_t heads = 4;
  uint32_t kv_heads = 2;
  uint32_t intermediate = 176;
  uint32_t vocab = 512;     ///< config vocab_size; >= the tokenizer's vocabulary (rows past it
                            ///< are valid but unused, as in padded real checkpoints).
  uint32_t context = 2048;  ///< max_position_embeddings.
  uint64_t seed = 1;
  std::string architecture = "LlamaForCausalLM";  ///< Or "Qwen2ForCausalLM" (q/k/v biases) or
                                                  ///< "MistralForCausalLM".
  dtype weight_dtype = dtype::bf16;
  bool tie_word_embeddings = true;
  std::string rope = "llama3";  ///< "none" or "llama3" (factor 8, low 1, high 4, original
                                ///< context / 4, theta 500000).
  uint32_t shards = 1;          ///< > 1 writes model-0000i-of-0000n.safetensors + index json.
  std::string tokenizer = "byte_level";  ///< Or "sentencepiece" (byte fallback, Llama 2 style).
  bool overwrite = false;  ///< Replace an existing non-empty `dir` (not part of the identity).

  /// Equality of the fields that determine the files (overwrite is ignored).
  bool same_model(const synth_spec& other) const;
};

/// Checks a spec (positive sizes, heads dividing hidden and kv heads dividing heads, an even
/// head size, known architecture/rope/tokenizer, at most 2^31 parameters, shards not more than
/// tensors). Errors: invalid_request naming the field.
caf::error validate(const synth_spec& spec);

/// The config.json a spec produces, given the tokenizer's special token ids. Pure.
model_config synth_model_config(const synth_spec& spec, uint32_t bos,
                                std::vector<uint32_t> eos);

/// Renders the spec as the JSON of the "synth.json" marker file (overwrite excluded).
std::string to_json(const synth_spec& spec);

/// Parses synth.json text. Errors: invalid_request naming the field.
caf::expected<synth_spec> parse_synth_spec(std::string_view json);

/// Writes the model described by `spec` into `dir` (created with its parents): everything goes
/// to a temporary sibling directory first, which is then renamed to `dir`, so a half-written
/// model never appears. Deterministic: the same spec gives identical bytes. Blocks (seconds for
/// ~100M parameters); any thread. Errors: invalid_request for a bad spec, a non-empty `dir`
/// without spec.overwrite, a tokenizer that cannot be trained, or an I/O failure.
caf::error synthesize(const synth_spec& spec, const std::filesystem::path& dir, logger_ptr log);

/// Named presets: "tiny" (the test model, the synth_spec defaults) and "small-100m" (~100M
/// parameters: 12 layers, hidden 768, 12 heads, 4 kv heads, intermediate 2048, vocab 32000,
/// context 4096). Errors: invalid_request listing the presets.
caf::expected<synth_spec> synth_preset(std::string_view name);

/// Returns `dir` if it already holds a checkpoint whose synth.json matches `spec`; otherwise
/// synthesizes it there (replacing an older synthesized model, never other content), logging
/// progress. Safe against concurrent callers for the same dir (across processes too). Errors:
/// those of synthesize, or invalid_request when `dir` holds something that is not a
/// synthesized model.
caf::expected<std::filesystem::path>
ensure_synthesized(const synth_spec& spec, const std::filesystem::path& dir, logger_ptr log);

/// ensure_synthesized for a named preset (see synth_preset).
caf::expected<std::filesystem::path>
ensure_synthesized(std::string_view preset, const std::filesystem::path& dir, logger_ptr log);

} // namespace dynamo::model
