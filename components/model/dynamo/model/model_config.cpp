#include "dynamo/model/model_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

namespace dynamo::model {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

struct architecture_info {
  std::string_view architecture;
  std::string_view model_type;
};

constexpr std::array<architecture_info, 3> architectures{{
  {"LlamaForCausalLM", "llama"},
  {"MistralForCausalLM", "mistral"},
  {"Qwen2ForCausalLM", "qwen2"},
}};

caf::error invalid(std::string_view file, std::string message) {
  return make_error(errc::invalid_request, fmt::format("{}: {}", file, message));
}

/// Typed field access on one JSON object; the first problem is kept and reported.
class fields {
public:
  fields(const json& obj, std::string_view file) : obj_(obj), file_(file) {}

  const json* get(std::string_view key) const {
    auto i = obj_.find(key);
    return i == obj_.end() || i->is_null() ? nullptr : &*i;
  }

  std::optional<uint32_t> u32(std::string_view key) {
    const json* x = get(key);
    if (x == nullptr)
      return std::nullopt;
    if (auto v = to_u32(*x))
      return v;
    fail(fmt::format("'{}' must be a non-negative integer below 2^32", key));
    return std::nullopt;
  }

  uint32_t positive_u32(std::string_view key, std::optional<uint32_t> fallback) {
    auto v = u32(key);
    if (!v && !get(key)) {
      if (fallback)
        return *fallback;
      fail(fmt::format("'{}' is missing", key));
      return 0;
    }
    if (v && *v == 0)
      fail(fmt::format("'{}' must be positive", key));
    return v.value_or(0);
  }

  std::optional<double> number(std::string_view key) {
    const json* x = get(key);
    if (x == nullptr)
      return std::nullopt;
    if (x->is_number() && std::isfinite(x->get<double>()))
      return x->get<double>();
    fail(fmt::format("'{}' must be a finite number", key));
    return std::nullopt;
  }

  double positive_number(std::string_view key, double fallback) {
    auto v = number(key);
    if (v && *v <= 0.0)
      fail(fmt::format("'{}' must be positive, got {}", key, *v));
    return v.value_or(fallback);
  }

  std::optional<bool> boolean(std::string_view key) {
    const json* x = get(key);
    if (x == nullptr)
      return std::nullopt;
    if (x->is_boolean())
      return x->get<bool>();
    fail(fmt::format("'{}' must be true or false", key));
    return std::nullopt;
  }

  std::optional<std::string> string(std::string_view key) {
    const json* x = get(key);
    if (x == nullptr)
      return std::nullopt;
    if (x->is_string())
      return x->get<std::string>();
    fail(fmt::format("'{}' must be a string", key));
    return std::nullopt;
  }

  /// A token id field that may be a number or a list of numbers.
  std::vector<uint32_t> token_ids(std::string_view key) {
    std::vector<uint32_t> out;
    const json* x = get(key);
    if (x == nullptr)
      return out;
    if (!x->is_array()) {
      if (auto v = to_u32(*x))
        out.push_back(*v);
      else
        fail(fmt::format("'{}' must be a token id or a list of token ids", key));
      return out;
    }
    for (const auto& item : *x) {
      auto v = to_u32(item);
      if (!v) {
        fail(fmt::format("'{}' must be a token id or a list of token ids", key));
        return {};
      }
      out.push_back(*v);
    }
    return out;
  }

  void fail(std::string message) {
    if (!error_)
      error_ = invalid(file_, std::move(message));
  }

  caf::error take_error() { return std::move(error_); }

  bool failed() const noexcept { return static_cast<bool>(error_); }

private:
  static std::optional<uint32_t> to_u32(const json& x) {
    if (x.is_number_unsigned() && x.get<uint64_t>() <= std::numeric_limits<uint32_t>::max())
      return static_cast<uint32_t>(x.get<uint64_t>());
    if (x.is_number_integer() && x.get<int64_t>() >= 0
        && x.get<int64_t>() <= std::numeric_limits<uint32_t>::max())
      return static_cast<uint32_t>(x.get<int64_t>());
    return std::nullopt;
  }

  const json& obj_;
  std::string_view file_;
  caf::error error_;
};

caf::expected<json> parse_object(std::string_view text, std::string_view file) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    return make_error(errc::invalid_request, fmt::format("{}: not valid JSON", file), e.what());
  }
  if (!doc.is_object())
    return invalid(file, "not a JSON object");
  return doc;
}

caf::error pick_architecture(fields& f, model_config& cfg) {
  auto type = f.string("model_type");
  const json* list = f.get("architectures");
  if (list != nullptr) {
    if (!list->is_array() || list->empty() || !list->front().is_string())
      return invalid("config.json", "'architectures' must be a non-empty list of strings");
    const auto first = list->front().get<std::string>();
    for (const auto& item : *list) {
      if (!item.is_string())
        continue;
      for (const auto& a : architectures)
        if (item.get<std::string>() == a.architecture) {
          cfg.architecture = std::string{a.architecture};
          cfg.model_type = std::string{a.model_type};
        }
      if (!cfg.architecture.empty())
        break;
    }
    if (cfg.architecture.empty())
      return invalid("config.json", fmt::format("unsupported architecture '{}'; supported: {}",
                                                first, supported_architectures()));
    if (type && *type != cfg.model_type)
      return invalid("config.json", fmt::format("model_type '{}' does not match architecture '{}'",
                                                *type, cfg.architecture));
    return {};
  }
  if (!type)
    return invalid("config.json", "neither 'architectures' nor 'model_type' is given");
  for (const auto& a : architectures)
    if (*type == a.model_type) {
      cfg.architecture = std::string{a.architecture};
      cfg.model_type = std::string{a.model_type};
      return {};
    }
  return invalid("config.json", fmt::format("unsupported model_type '{}'; supported: llama, "
                                            "mistral, qwen2",
                                            *type));
}

caf::error parse_rope_scaling(const json& x, rope_scaling& out) {
  if (x.is_null())
    return {};
  if (!x.is_object())
    return invalid("config.json", "'rope_scaling' must be null or an object");
  fields f{x, "config.json: rope_scaling"};
  auto type = f.string("rope_type");
  if (!type)
    type = f.string("type");
  if (f.failed())
    return f.take_error();
  if (!type)
    return invalid("config.json", "'rope_scaling' names no 'rope_type'");
  if (*type == "default") {
    out = rope_scaling{};
    return {};
  }
  if (*type != "llama3" && *type != "linear")
    return invalid("config.json", fmt::format("unsupported rope_scaling type '{}'; supported: "
                                              "llama3, linear",
                                              *type));
  out.type = *type;
  auto factor = f.number("factor");
  if (!factor && !f.failed())
    f.fail("'factor' is missing");
  if (factor && *factor <= 0.0)
    f.fail("'factor' must be positive");
  out.factor = factor.value_or(1.0);
  if (*type == "llama3") {
    auto low = f.number("low_freq_factor");
    auto high = f.number("high_freq_factor");
    auto original = f.u32("original_max_position_embeddings");
    if (!f.failed() && (!low || !high || !original))
      f.fail("llama3 needs low_freq_factor, high_freq_factor and "
             "original_max_position_embeddings");
    if (!f.failed() && (*low <= 0.0 || *high <= *low || *original == 0))
      f.fail("llama3 needs 0 < low_freq_factor < high_freq_factor and a positive "
             "original_max_position_embeddings");
    if (!f.failed()) {
      out.low_freq_factor = *low;
      out.high_freq_factor = *high;
      out.original_max_position_embeddings = *original;
    }
  }
  return f.take_error();
}

void put_token_ids(ordered_json& doc, const char* key, const std::vector<uint32_t>& ids) {
  if (ids.empty())
    doc[key] = nullptr;
  else if (ids.size() == 1)
    doc[key] = ids.front();
  else
    doc[key] = ids;
}

} // namespace

std::string_view supported_architectures() noexcept {
  return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";
}

caf::expected<model_config> parse_model_config(std::string_view text) {
  auto doc = parse_object(text, "config.json");
  if (!doc)
    return std::move(doc.error());
  model_config cfg;
  fields f{*doc, "config.json"};
  if (auto err = pick_architecture(f, cfg))
    return err;
  const bool qwen2 = cfg.model_type == "qwen2";
  cfg.hidden_size = f.positive_u32("hidden_size", std::nullopt);
  cfg.intermediate_size = f.positive_u32("intermediate_size", std::nullopt);
  cfg.num_hidden_layers = f.positive_u32("num_hidden_layers", std::nullopt);
  cfg.num_attention_heads = f.positive_u32("num_attention_heads", std::nullopt);
  cfg.num_key_value_heads = f.positive_u32("num_key_value_heads", cfg.num_attention_heads);
  cfg.vocab_size = f.positive_u32("vocab_size", std::nullopt);
  cfg.max_position_embeddings = f.positive_u32("max_position_embeddings", 2048u);
  cfg.rms_norm_eps = f.positive_number("rms_norm_eps", 1e-6);
  cfg.rope_theta = f.positive_number("rope_theta", 10000.0);
  cfg.tie_word_embeddings = f.boolean("tie_word_embeddings").value_or(false);
  auto head_dim = f.u32("head_dim");
  auto act = f.string("hidden_act");
  auto attention_bias = f.boolean("attention_bias");
  auto mlp_bias = f.boolean("mlp_bias");
  auto dtype_name = f.string("torch_dtype");
  if (!dtype_name)
    dtype_name = f.string("dtype");
  cfg.torch_dtype = dtype_name.value_or("float32");
  auto bos = f.token_ids("bos_token_id");
  cfg.eos_token_ids = f.token_ids("eos_token_id");
  auto window = f.u32("sliding_window");
  if (qwen2 && !f.boolean("use_sliding_window").value_or(false))
    window.reset();
  if (cfg.model_type == "llama")
    window.reset();
  cfg.sliding_window = window;
  if (const json* rope = f.get("rope_scaling"); rope != nullptr && !f.failed())
    if (auto err = parse_rope_scaling(*rope, cfg.rope))
      return err;
  if (f.failed())
    return f.take_error();

  if (bos.size() > 1)
    return invalid("config.json", "'bos_token_id' must be a single token id");
  if (!bos.empty())
    cfg.bos_token_id = bos.front();
  if (act && *act != "silu")
    return invalid("config.json",
                   fmt::format("unsupported hidden_act '{}'; supported: silu", *act));
  if (mlp_bias.value_or(false))
    return invalid("config.json", "mlp_bias=true is not supported");
  if (qwen2)
    cfg.attention_bias = true;
  else if (attention_bias.value_or(false))
    return invalid("config.json", fmt::format("attention_bias=true is not supported for {} (it "
                                              "also biases o_proj)",
                                              cfg.architecture));
  if (cfg.num_attention_heads % cfg.num_key_value_heads != 0)
    return invalid("config.json", fmt::format("num_key_value_heads ({}) does not divide "
                                              "num_attention_heads ({})",
                                              cfg.num_key_value_heads, cfg.num_attention_heads));
  if (head_dim) {
    cfg.head_dim = *head_dim;
  } else {
    if (cfg.hidden_size % cfg.num_attention_heads != 0)
      return invalid("config.json", fmt::format("num_attention_heads ({}) does not divide "
                                                "hidden_size ({})",
                                                cfg.num_attention_heads, cfg.hidden_size));
    cfg.head_dim = cfg.hidden_size / cfg.num_attention_heads;
  }
  if (cfg.head_dim == 0 || cfg.head_dim % 2 != 0)
    return invalid("config.json",
                   fmt::format("head_dim ({}) must be a positive even number", cfg.head_dim));
  if (static_cast<uint64_t>(cfg.head_dim) * cfg.num_attention_heads
      > std::numeric_limits<uint32_t>::max())
    return invalid("config.json", "head_dim * num_attention_heads overflows");
  if (cfg.sliding_window && *cfg.sliding_window == 0)
    return invalid("config.json", "'sliding_window' must be positive");
  if (cfg.bos_token_id && *cfg.bos_token_id >= cfg.vocab_size)
    return invalid("config.json", fmt::format("bos_token_id {} is outside vocab_size {}",
                                              *cfg.bos_token_id, cfg.vocab_size));
  for (auto id : cfg.eos_token_ids)
    if (id >= cfg.vocab_size)
      return invalid("config.json",
                     fmt::format("eos_token_id {} is outside vocab_size {}", id, cfg.vocab_size));
  return cfg;
}

std::string to_json(const model_config& cfg) {
  ordered_json doc;
  doc["architectures"] = {cfg.architecture};
  doc["model_type"] = cfg.model_type;
  doc["hidden_act"] = "silu";
  doc["hidden_size"] = cfg.hidden_size;
  doc["intermediate_size"] = cfg.intermediate_size;
  doc["num_hidden_layers"] = cfg.num_hidden_layers;
  doc["num_attention_heads"] = cfg.num_attention_heads;
  doc["num_key_value_heads"] = cfg.num_key_value_heads;
  doc["head_dim"] = cfg.head_dim;
  doc["vocab_size"] = cfg.vocab_size;
  doc["max_position_embeddings"] = cfg.max_position_embeddings;
  doc["rms_norm_eps"] = cfg.rms_norm_eps;
  doc["rope_theta"] = cfg.rope_theta;
  if (cfg.rope.type == "none") {
    doc["rope_scaling"] = nullptr;
  } else {
    ordered_json rope;
    rope["rope_type"] = cfg.rope.type;
    rope["factor"] = cfg.rope.factor;
    if (cfg.rope.type == "llama3") {
      rope["low_freq_factor"] = cfg.rope.low_freq_factor;
      rope["high_freq_factor"] = cfg.rope.high_freq_factor;
      rope["original_max_position_embeddings"] = cfg.rope.original_max_position_embeddings;
    }
    doc["rope_scaling"] = rope;
  }
  doc["tie_word_embeddings"] = cfg.tie_word_embeddings;
  if (cfg.model_type != "qwen2") {
    doc["attention_bias"] = cfg.attention_bias;
    doc["mlp_bias"] = false;
  }
  if (cfg.model_type == "qwen2") {
    doc["use_sliding_window"] = cfg.sliding_window.has_value();
    doc["sliding_window"] = cfg.sliding_window.value_or(cfg.max_position_embeddings);
  } else if (cfg.model_type == "mistral") {
    doc["sliding_window"] = cfg.sliding_window ? ordered_json(*cfg.sliding_window) : nullptr;
  }
  doc["attention_dropout"] = 0.0;
  doc["initializer_range"] = 0.02;
  doc["use_cache"] = true;
  if (cfg.bos_token_id)
    doc["bos_token_id"] = *cfg.bos_token_id;
  else
    doc["bos_token_id"] = nullptr;
  put_token_ids(doc, "eos_token_id", cfg.eos_token_ids);
  doc["torch_dtype"] = cfg.torch_dtype;
  return doc.dump(2) + "\n";
}

caf::expected<generation_config> parse_generation_config(std::string_view text) {
  auto doc = parse_object(text, "generation_config.json");
  if (!doc)
    return std::move(doc.error());
  generation_config cfg;
  fields f{*doc, "generation_config.json"};
  auto bos = f.token_ids("bos_token_id");
  cfg.eos_token_ids = f.token_ids("eos_token_id");
  cfg.temperature = f.number("temperature");
  cfg.top_p = f.number("top_p");
  if (const json* k = f.get("top_k"); k != nullptr) {
    if (k->is_number_integer() && k->get<int64_t>() >= std::numeric_limits<int32_t>::min()
        && k->get<int64_t>() <= std::numeric_limits<int32_t>::max())
      cfg.top_k = static_cast<int32_t>(k->get<int64_t>());
    else
      f.fail("'top_k' must be an integer");
  }
  if (f.failed())
    return f.take_error();
  if (bos.size() > 1)
    return invalid("generation_config.json", "'bos_token_id' must be a single token id");
  if (!bos.empty())
    cfg.bos_token_id = bos.front();
  if (cfg.temperature && *cfg.temperature < 0.0)
    return invalid("generation_config.json", "'temperature' must not be negative");
  if (cfg.top_p && (*cfg.top_p <= 0.0 || *cfg.top_p > 1.0))
    return invalid("generation_config.json", "'top_p' must be in (0, 1]");
  return cfg;
}

std::string to_json(const generation_config& cfg) {
  ordered_json doc;
  doc["_from_model_config"] = true;
  if (cfg.bos_token_id)
    doc["bos_token_id"] = *cfg.bos_token_id;
  if (!cfg.eos_token_ids.empty())
    put_token_ids(doc, "eos_token_id", cfg.eos_token_ids);
  if (cfg.temperature)
    doc["temperature"] = *cfg.temperature;
  if (cfg.top_p)
    doc["top_p"] = *cfg.top_p;
  if (cfg.top_k)
    doc["top_k"] = *cfg.top_k;
  return doc.dump(2) + "\n";
}

caf::expected<std::string> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return make_error(errc::invalid_request,
                      fmt::format("cannot read {}: it is a directory", path.string()));
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::invalid_request, fmt::format("cannot read {}", path.string()));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return make_error(errc::invalid_request, fmt::format("error reading {}", path.string()));
  return std::move(buf).str();
}

} // namespace dynamo::model
