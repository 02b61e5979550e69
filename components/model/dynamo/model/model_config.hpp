// config.json and generation_config.json of a Llama-family checkpoint (Llama 2/3, Mistral,
// SmolLM, TinyLlama, Qwen2).
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::model {

/// Rotary embedding scaling ("rope_scaling" in config.json).
struct rope_scaling {
  std::string type = "none";  ///< "none", "llama3" or "linear" (others are rejected).
  double factor = 1.0;
  double low_freq_factor = 1.0;                    ///< llama3 only.
  double high_freq_factor = 4.0;                   ///< llama3 only.
  uint32_t original_max_position_embeddings = 8192;  ///< llama3 only.

  bool operator==(const rope_scaling&) const = default;
};

/// The architecture facts the engine needs. Plain value.
struct model_config {
  std::string architecture;     ///< "LlamaForCausalLM", "MistralForCausalLM" or "Qwen2ForCausalLM".
  std::string model_type;       ///< "llama", "mistral", "qwen2".
  uint32_t hidden_size = 0;
  uint32_t intermediate_size = 0;
  uint32_t num_hidden_layers = 0;
  uint32_t num_attention_heads = 0;
  uint32_t num_key_value_heads = 0;  ///< Defaults to num_attention_heads.
  uint32_t head_dim = 0;             ///< Defaults to hidden_size / num_attention_heads.
  uint32_t vocab_size = 0;
  uint32_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  rope_scaling rope;
  bool tie_word_embeddings = false;
  bool attention_bias = false;       ///< q/k/v projections have biases (true for Qwen2).
  std::optional<uint32_t> sliding_window;  ///< Mistral; rejected unless >= the context used.
  std::optional<uint32_t> bos_token_id;
  std::vector<uint32_t> eos_token_ids;     ///< "eos_token_id" (a number or a list).
  std::string torch_dtype = "float32";  ///< "float32", "float16" or "bfloat16".

  /// head_dim * num_attention_heads: the width of the query projection.
  uint32_t q_size() const noexcept { return head_dim * num_attention_heads; }

  /// head_dim * num_key_value_heads: the width of the key and value projections.
  uint32_t kv_size() const noexcept { return head_dim * num_key_value_heads; }

  bool operator==(const model_config&) const = default;
};

/// The architectures parse_model_config accepts, comma-separated for messages.
std::string_view supported_architectures() noexcept;

/// Parses config.json text. Errors: invalid_request naming the field (missing, wrong type,
/// inconsistent: heads not dividing hidden size, kv heads not dividing heads) or an unsupported
/// architecture / rope scaling type.
caf::expected<model_config> parse_model_config(std::string_view json);

/// Renders config.json text for `cfg` in the Hugging Face layout (for the synthesizer).
std::string to_json(const model_config& cfg);

/// Sampling defaults and stop tokens from generation_config.json. Plain value.
struct generation_config {
  std::optional<uint32_t> bos_token_id;
  std::vector<uint32_t> eos_token_ids;   ///< A number or a list in the file.
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int32_t> top_k;

  bool operator==(const generation_config&) const = default;
};

/// Parses generation_config.json text. Errors: invalid_request naming the field.
caf::expected<generation_config> parse_generation_config(std::string_view json);

/// Renders generation_config.json text.
std::string to_json(const generation_config& cfg);

/// Reads a whole file. Errors: invalid_request naming the path when it is missing/unreadable.
caf::expected<std::string> read_file(const std::filesystem::path& path);

} // namespace dynamo::model
