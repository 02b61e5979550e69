// Test support: writes a tiny random Llama/Qwen2 checkpoint (config.json + model.safetensors)
// into a temporary directory that is removed again on destruction.
#pragma once

#include "dynamo/model/checkpoint.hpp"
#include "dynamo/model/model_config.hpp"
#include "dynamo/model/safetensors.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace dynamo::reference::testing {

/// A tiny config: 2 layers, hidden 32, 4 heads of 8 (2 KV heads), intermediate 48, vocab 61.
model::model_config tiny_config(bool qwen2 = false);

/// A checkpoint directory with random weights for `cfg` (seeded). `edit` may change or drop
/// tensors before they are written. Test thread only.
class temp_model {
public:
  explicit temp_model(const model::model_config& cfg, uint32_t seed = 1,
                      const std::function<void(std::vector<model::tensor_data>&)>& edit = {});
  ~temp_model();
  temp_model(const temp_model&) = delete;
  temp_model& operator=(const temp_model&) = delete;

  /// The directory.
  const std::filesystem::path& dir() const noexcept { return dir_; }

private:
  std::filesystem::path dir_;
};

} // namespace dynamo::reference::testing
