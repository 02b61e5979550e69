// The tokenizer files of a synthesized model: a BPE trained on the built-in corpus plus the
// tokenizer_config.json (special tokens, chat template) that goes with it.
#pragma once

#include "dynamo/model/synthesize.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::model {

/// Rendered tokenizer files and the special token ids the model config needs.
struct synth_tokenizer_files {
  std::string tokenizer_json;         ///< tokenizer.json
  std::string tokenizer_config_json;  ///< tokenizer_config.json
  std::string special_tokens_map_json;  ///< special_tokens_map.json
  uint32_t bos = 0;                   ///< bos_token_id.
  std::vector<uint32_t> eos;          ///< eos_token_id (the chat end token first, if any).
  uint32_t vocab_used = 0;            ///< One past the largest token id.
};

/// Trains the tokenizer for `spec` (style, vocab) on training_corpus(). Deterministic; any
/// thread. Errors: invalid_request when training fails or the trained vocabulary exceeds
/// spec.vocab.
caf::expected<synth_tokenizer_files> make_synth_tokenizer(const synth_spec& spec);

/// The ChatML chat template of byte-level models (SmolLM / Qwen style).
std::string_view chatml_template() noexcept;

/// The Llama 2 [INST] chat template of sentencepiece-style models.
std::string_view llama2_template() noexcept;

} // namespace dynamo::model
