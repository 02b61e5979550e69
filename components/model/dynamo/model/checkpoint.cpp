#include "dynamo/model/checkpoint.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <system_error>
#include <utility>

namespace dynamo::model {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view index_name = "model.safetensors.index.json";
constexpr std::string_view single_name = "model.safetensors";

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, std::move(message));
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos
         && name.find('\0') == std::string::npos;
}

/// Parses the index: tensor name -> shard file name.
caf::expected<std::map<std::string, std::string>> read_index(const fs::path& path) {
  auto text = read_file(path);
  if (!text)
    return std::move(text.error());
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return make_error(errc::invalid_request, fmt::format("{}: not valid JSON", path.string()),
                      e.what());
  }
  if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
    return invalid(fmt::format("{}: no 'weight_map' object", path.string()));
  std::map<std::string, std::string> out;
  for (const auto& [name, file] : doc["weight_map"].items()) {
    if (!file.is_string() || !is_plain_file_name(file.get<std::string>()))
      return invalid(fmt::format("{}: tensor '{}' maps to an invalid shard name", path.string(),
                                 name));
    out.emplace(name, file.get<std::string>());
  }
  if (out.empty())
    return invalid(fmt::format("{}: 'weight_map' is empty", path.string()));
  return out;
}

std::string render_shape(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

} // namespace

caf::expected<tensor_store> tensor_store::open(const fs::path& dir) {
  std::error_code ec;
  tensor_store store;
  const fs::path index_path = dir / index_name;
  if (fs::exists(index_path, ec)) {
    auto index = read_index(index_path);
    if (!index)
      return std::move(index.error());
    std::map<std::string, const safetensors_file*> shards;
    for (const auto& [name, shard] : *index) {
      auto i = shards.find(shard);
      if (i == shards.end()) {
        const fs::path shard_path = dir / shard;
        if (!fs::exists(shard_path, ec))
          return invalid(fmt::format("shard {} listed in {} is missing in {}", shard, index_name,
                                     dir.string()));
        auto file = safetensors_file::open(shard_path);
        if (!file)
          return std::move(file.error());
        i = shards.emplace(shard, file->get()).first;
        store.files_.push_back(std::move(*file));
      }
      if (i->second->find(name) == nullptr)
        return invalid(fmt::format("tensor '{}' listed in {} is missing from shard {}", name,
                                   index_name, (dir / shard).string()));
      store.index_.emplace(name, i->second);
    }
    return store;
  }
  const fs::path single_path = dir / single_name;
  if (!fs::exists(single_path, ec))
    return invalid(fmt::format("no weights: neither {} nor {} in {}", single_name, index_name,
                               dir.string()));
  auto file = safetensors_file::open(single_path);
  if (!file)
    return std::move(file.error());
  for (const auto& [name, view] : (*file)->tensors())
    store.index_.emplace(name, file->get());
  store.files_.push_back(std::move(*file));
  return store;
}

caf::expected<tensor_view> tensor_store::find(const std::string& name) const {
  auto i = index_.find(name);
  if (i == index_.end())
    return make_error(errc::not_found, fmt::format("no tensor '{}' in the checkpoint", name));
  const tensor_view* view = i->second->find(name);
  if (view == nullptr)
    on_internal_error("tensor_store index points to a shard without the tensor");
  return *view;
}

bool tensor_store::contains(const std::string& name) const {
  return index_.contains(name);
}

std::vector<std::string> tensor_store::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& entry : index_)
    out.push_back(entry.first);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<tensor_spec> expected_tensors(const model_config& cfg) {
  const auto hidden = static_cast<int64_t>(cfg.hidden_size);
  const auto inter = static_cast<int64_t>(cfg.intermediate_size);
  const auto q = static_cast<int64_t>(cfg.q_size());
  const auto kv = static_cast<int64_t>(cfg.kv_size());
  std::vector<tensor_spec> out;
  out.push_back({"model.embed_tokens.weight", {static_cast<int64_t>(cfg.vocab_size), hidden}});
  for (uint32_t i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    out.push_back({p + "input_layernorm.weight", {hidden}});
    out.push_back({p + "self_attn.q_proj.weight", {q, hidden}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, hidden}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, hidden}});
    if (cfg.attention_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {q}});
      out.push_back({p + "self_attn.k_proj.bias", {kv}});
      out.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    out.push_back({p + "self_attn.o_proj.weight", {hidden, q}});
    out.push_back({p + "post_attention_layernorm.weight", {hidden}});
    out.push_back({p + "mlp.gate_proj.weight", {inter, hidden}});
    out.push_back({p + "mlp.up_proj.weight", {inter, hidden}});
    out.push_back({p + "mlp.down_proj.weight", {hidden, inter}});
  }
  out.push_back({"model.norm.weight", {hidden}});
  if (!cfg.tie_word_embeddings)
    out.push_back({"lm_head.weight", {static_cast<int64_t>(cfg.vocab_size), hidden}});
  return out;
}

caf::error validate_tensors(const model_config& cfg, const tensor_store& store) {
  for (const auto& spec : expected_tensors(cfg)) {
    auto view = store.find(spec.name);
    if (!view)
      return invalid(fmt::format("the checkpoint lacks tensor '{}' (shape {}) that {} with this "
                                 "config.json needs",
                                 spec.name, render_shape(spec.shape), cfg.architecture));
    if (view->shape != spec.shape)
      return invalid(fmt::format("tensor '{}' has shape {}, config.json implies {}", spec.name,
                                 render_shape(view->shape), render_shape(spec.shape)));
  }
  return {};
}

caf::expected<checkpoint> open_checkpoint(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return invalid(fmt::format("not a directory: {}", dir.string()));
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path, ec))
    return invalid(fmt::format("config.json missing in {}", dir.string()));
  auto config_text = read_file(config_path);
  if (!config_text)
    return std::move(config_text.error());
  auto config = parse_model_config(*config_text);
  if (!config)
    return make_error(errc::invalid_request,
                      fmt::format("{} (in {})", client_message(config.error()), dir.string()),
                      operator_detail(config.error()));
  generation_config generation;
  const fs::path generation_path = dir / "generation_config.json";
  if (fs::exists(generation_path, ec)) {
    auto text = read_file(generation_path);
    if (!text)
      return std::move(text.error());
    auto parsed = parse_generation_config(*text);
    if (!parsed)
      return make_error(errc::invalid_request,
                        fmt::format("{} (in {})", client_message(parsed.error()), dir.string()),
                        operator_detail(parsed.error()));
    generation = std::move(*parsed);
  }
  auto tensors = tensor_store::open(dir);
  if (!tensors)
    return std::move(tensors.error());
  if (auto err = validate_tensors(*config, *tensors))
    return err;
  return checkpoint{dir, std::move(*config), std::move(generation), std::move(*tensors)};
}

} // namespace dynamo::model
