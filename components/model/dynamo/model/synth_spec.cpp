// synth_spec: validation, presets, the synth.json marker and the config it implies.
#include "dynamo/model/synthesize.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <limits>
#include <tuple>

namespace dynamo::model {

namespace {

/// Bump when the synthesizer's output for an unchanged spec changes (invalidates caches).
constexpr int synth_version = 2;

constexpr uint64_t max_parameters = uint64_t{1} << 31;

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, fmt::format("synth: {}", message));
}

bool known_architecture(const std::string& name) {
  return name == "LlamaForCausalLM" || name == "Qwen2ForCausalLM" || name == "MistralForCausalLM";
}

} // namespace

bool synth_spec::same_model(const synth_spec& other) const {
  auto key = [](const synth_spec& s) {
    return std::tie(s.layers, s.hidden, s.heads, s.kv_heads, s.intermediate, s.vocab, s.context,
                    s.seed, s.architecture, s.weight_dtype, s.tie_word_embeddings, s.rope,
                    s.shards, s.tokenizer);
  };
  return key(*this) == key(other);
}

caf::error validate(const synth_spec& spec) {
  const std::pair<const char*, uint32_t> positive[] = {
    {"layers", spec.layers},     {"hidden", spec.hidden},
    {"heads", spec.heads},       {"kv_heads", spec.kv_heads},
    {"intermediate", spec.intermediate}, {"vocab", spec.vocab},
    {"context", spec.context},   {"shards", spec.shards},
  };
  for (const auto& [name, value] : positive)
    if (value == 0)
      return invalid(fmt::format("{} must be positive", name));
  if (spec.hidden % spec.heads != 0)
    return invalid(fmt::format("heads ({}) must divide hidden ({})", spec.heads, spec.hidden));
  if (spec.heads % spec.kv_heads != 0)
    return invalid(fmt::format("kv_heads ({}) must divide heads ({})", spec.kv_heads, spec.heads));
  if ((spec.hidden / spec.heads) % 2 != 0)
    return invalid(fmt::format("the head size hidden / heads ({}) must be even for rotary "
                               "embeddings",
                               spec.hidden / spec.heads));
  if (!known_architecture(spec.architecture))
    return invalid(fmt::format("unknown architecture '{}'; use LlamaForCausalLM, "
                               "Qwen2ForCausalLM or MistralForCausalLM",
                               spec.architecture));
  if (spec.rope != "none" && spec.rope != "llama3")
    return invalid(fmt::format("unknown rope '{}'; use none or llama3", spec.rope));
  if (spec.tokenizer != "byte_level" && spec.tokenizer != "sentencepiece")
    return invalid(fmt::format("unknown tokenizer '{}'; use byte_level or sentencepiece",
                               spec.tokenizer));
  const uint64_t hidden = spec.hidden;
  const uint64_t kv = hidden / spec.heads * spec.kv_heads;
  const uint64_t per_layer = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * spec.intermediate
                             + 2 * hidden + (hidden + 2 * kv);
  const uint64_t embeddings = uint64_t{spec.vocab} * hidden * (spec.tie_word_embeddings ? 1 : 2);
  const uint64_t total = per_layer * spec.layers + embeddings + hidden;
  if (spec.layers > max_parameters || total > max_parameters)
    return invalid(fmt::format("the model would have about {} parameters; the limit is {}", total,
                               max_parameters));
  const uint64_t tensors =
    uint64_t{spec.layers} * 9 + 2 + (spec.tie_word_embeddings ? 0 : 1);
  if (spec.shards > tensors || spec.shards > 99999)
    return invalid(fmt::format("shards ({}) exceeds the number of tensors ({})", spec.shards,
                               tensors));
  return {};
}

model_config synth_model_config(const synth_spec& spec, uint32_t bos, std::vector<uint32_t> eos) {
  model_config cfg;
  cfg.architecture = spec.architecture;
  cfg.model_type = spec.architecture == "Qwen2ForCausalLM"     ? "qwen2"
                   : spec.architecture == "MistralForCausalLM" ? "mistral"
                                                               : "llama";
  cfg.hidden_size = spec.hidden;
  cfg.intermediate_size = spec.intermediate;
  cfg.num_hidden_layers = spec.layers;
  cfg.num_attention_heads = spec.heads;
  cfg.num_key_value_heads = spec.kv_heads;
  cfg.head_dim = spec.hidden / spec.heads;
  cfg.vocab_size = spec.vocab;
  cfg.max_position_embeddings = spec.context;
  cfg.rms_norm_eps = 1e-5;
  if (spec.rope == "llama3") {
    cfg.rope_theta = 500000.0;
    cfg.rope.type = "llama3";
    cfg.rope.factor = 8.0;
    cfg.rope.low_freq_factor = 1.0;
    cfg.rope.high_freq_factor = 4.0;
    cfg.rope.original_max_position_embeddings = std::max(1u, spec.context / 4);
  } else {
    cfg.rope_theta = 10000.0;
  }
  cfg.tie_word_embeddings = spec.tie_word_embeddings;
  cfg.attention_bias = cfg.model_type == "qwen2";
  cfg.bos_token_id = bos;
  cfg.eos_token_ids = std::move(eos);
  cfg.torch_dtype = spec.weight_dtype == dtype::f32   ? "float32"
                    : spec.weight_dtype == dtype::f16 ? "float16"
                                                      : "bfloat16";
  return cfg;
}

std::string to_json(const synth_spec& spec) {
  nlohmann::ordered_json doc;
  doc["synth_version"] = synth_version;
  doc["layers"] = spec.layers;
  doc["hidden"] = spec.hidden;
  doc["heads"] = spec.heads;
  doc["kv_heads"] = spec.kv_heads;
  doc["intermediate"] = spec.intermediate;
  doc["vocab"] = spec.vocab;
  doc["context"] = spec.context;
  doc["seed"] = spec.seed;
  doc["architecture"] = spec.architecture;
  doc["weight_dtype"] = std::string{to_string(spec.weight_dtype)};
  doc["tie_word_embeddings"] = spec.tie_word_embeddings;
  doc["rope"] = spec.rope;
  doc["shards"] = spec.shards;
  doc["tokenizer"] = spec.tokenizer;
  return doc.dump(2) + "\n";
}

caf::expected<synth_spec> parse_synth_spec(std::string_view text) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return make_error(errc::invalid_request, "synth.json: not valid JSON", e.what());
  }
  if (!doc.is_object())
    return make_error(errc::invalid_request, "synth.json: not a JSON object");
  if (doc.value("synth_version", 0) != synth_version)
    return make_error(errc::invalid_request,
                      fmt::format("synth.json: synth_version is not {}", synth_version));
  synth_spec spec;
  try {
    spec.layers = doc.at("layers").get<uint32_t>();
    spec.hidden = doc.at("hidden").get<uint32_t>();
    spec.heads = doc.at("heads").get<uint32_t>();
    spec.kv_heads = doc.at("kv_heads").get<uint32_t>();
    spec.intermediate = doc.at("intermediate").get<uint32_t>();
    spec.vocab = doc.at("vocab").get<uint32_t>();
    spec.context = doc.at("context").get<uint32_t>();
    spec.seed = doc.at("seed").get<uint64_t>();
    spec.architecture = doc.at("architecture").get<std::string>();
    spec.tie_word_embeddings = doc.at("tie_word_embeddings").get<bool>();
    spec.rope = doc.at("rope").get<std::string>();
    spec.shards = doc.at("shards").get<uint32_t>();
    spec.tokenizer = doc.at("tokenizer").get<std::string>();
    auto type = parse_dtype(doc.at("weight_dtype").get<std::string>());
    if (!type)
      return std::move(type.error());
    spec.weight_dtype = *type;
  } catch (const nlohmann::json::exception& e) {
    return make_error(errc::invalid_request, "synth.json: a field is missing or mistyped",
                      e.what());
  }
  return spec;
}

caf::expected<synth_spec> synth_preset(std::string_view name) {
  if (name == "tiny")
    return synth_spec{};
  if (name == "small-100m") {
    synth_spec spec;
    spec.layers = 12;
    spec.hidden = 768;
    spec.heads = 12;
    spec.kv_heads = 4;
    spec.intermediate = 2048;
    spec.vocab = 32000;
    spec.context = 4096;
    return spec;
  }
  return make_error(errc::invalid_request,
                    fmt::format("unknown synth preset '{}'; presets: tiny, small-100m", name));
}

} // namespace dynamo::model
