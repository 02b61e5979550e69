// A Hugging Face checkpoint directory: config.json, generation_config.json, the tokenizer files
// and the weights in *.safetensors (single file or sharded with model.safetensors.index.json),
// memory-mapped and never copied as a whole.
#pragma once

#include "dynamo/model/model_config.hpp"
#include "dynamo/model/safetensors.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace dynamo::model {

/// The tensors of a checkpoint, by name, across all of its shards. Immutable; any thread.
class tensor_store {
public:
  /// Opens `dir/model.safetensors.index.json` (sharded) or else `dir/model.safetensors`.
  /// Errors: invalid_request naming the file (missing, truncated, malformed header, a tensor in
  /// the index that its shard lacks).
  static caf::expected<tensor_store> open(const std::filesystem::path& dir);

  /// The tensor called `name`, or not_found naming it.
  caf::expected<tensor_view> find(const std::string& name) const;

  /// True if a tensor called `name` exists.
  bool contains(const std::string& name) const;

  /// Every tensor name, sorted.
  std::vector<std::string> names() const;

private:
  std::vector<std::shared_ptr<const safetensors_file>> files_;
  std::unordered_map<std::string, const safetensors_file*> index_;
};

/// The name and shape of one tensor a model needs.
struct tensor_spec {
  std::string name;            ///< Hugging Face name, e.g. "model.layers.0.mlp.up_proj.weight".
  std::vector<int64_t> shape;  ///< [out, in] for projections, [n] for norms and biases.
};

/// Every tensor `cfg` needs, in module order (embeddings, layers 0..n-1, final norm, lm_head
/// unless tied). Pure; any thread.
std::vector<tensor_spec> expected_tensors(const model_config& cfg);

/// Checks that `store` holds every tensor of expected_tensors(cfg) with the right shape.
/// Errors: invalid_request naming the first missing or misshapen tensor.
caf::error validate_tensors(const model_config& cfg, const tensor_store& store);

/// An opened checkpoint: parsed configs and mapped weights.
struct checkpoint {
  std::filesystem::path dir;     ///< The checkpoint directory.
  model_config config;           ///< From config.json.
  generation_config generation;  ///< From generation_config.json (defaults when absent).
  tensor_store tensors;          ///< The weights.
};

/// Opens a checkpoint directory: parses config.json (required), generation_config.json
/// (optional), maps the weights and checks them with validate_tensors. Tokenizer files are not
/// read here. Errors: invalid_request with the file and the reason (not a directory, missing
/// config.json or weights, unsupported architecture or dtype, malformed JSON, missing tensors).
caf::expected<checkpoint> open_checkpoint(const std::filesystem::path& dir);

} // namespace dynamo::model
