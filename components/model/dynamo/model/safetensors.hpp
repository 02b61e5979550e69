// The safetensors format: an 8-byte little-endian header length, a JSON header mapping tensor
// names to {dtype, shape, data_offsets}, then the raw little-endian data. Files are mapped
// read-only; tensors are views into the mapping.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dynamo::model {

/// Element types the engine accepts (others are rejected with a clear error).
enum class dtype : uint8_t { f32, f16, bf16 };

/// "F32", "F16", "BF16".
std::string_view to_string(dtype x) noexcept;

/// Bytes per element of `x`.
size_t element_size(dtype x) noexcept;

/// A tensor inside a mapped file: borrowed bytes valid while the owning file lives.
struct tensor_view {
  std::string name;               ///< Its name in the checkpoint.
  dtype type = dtype::f32;        ///< Element type.
  std::vector<int64_t> shape;     ///< Row-major shape.
  std::span<const std::byte> data;  ///< element_size(type) * product(shape) bytes.

  /// Number of elements (product of the shape; 1 for a scalar).
  size_t elements() const noexcept;
};

/// Converts the elements of `t` to fp32 into `out` (exactly t.elements() floats). Any thread.
/// Errors: invalid_request if `out` has the wrong size.
caf::error to_f32(const tensor_view& t, std::span<float> out);

/// Converts little-endian elements of `type` in `bytes` to fp32 into `out` (exactly
/// bytes.size() / element_size(type) floats). Any thread. Errors: invalid_request on a size
/// mismatch.
caf::error to_f32(dtype type, std::span<const std::byte> bytes, std::span<float> out);

/// Encodes fp32 values as little-endian `type` elements, rounding to nearest even (f16 values
/// beyond its range become infinity; NaN stays NaN). Any thread; never fails.
std::vector<std::byte> from_f32(std::span<const float> values, dtype type);

/// Parses "F32", "F16" or "BF16"; invalid_request naming the supported types otherwise.
caf::expected<dtype> parse_dtype(std::string_view name);

/// One mapped .safetensors file. Immutable after open; any thread.
class safetensors_file {
public:
  /// Maps `path` and validates the header: size bounds, JSON, dtypes, shapes against offsets,
  /// offsets inside the file and non-overlapping. Errors: invalid_request naming the file and
  /// the problem (e.g. "truncated: header says 4096 bytes of data, file has 1000").
  static caf::expected<std::shared_ptr<const safetensors_file>>
  open(const std::filesystem::path& path);

  ~safetensors_file();
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;

  /// The tensor called `name`, or nullptr.
  const tensor_view* find(const std::string& name) const;

  /// All tensors by name.
  const std::map<std::string, tensor_view>& tensors() const noexcept { return tensors_; }

  /// The "__metadata__" string map of the header (may be empty).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  /// The mapped file's path.
  const std::filesystem::path& path() const noexcept { return path_; }

private:
  safetensors_file() = default;

  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, tensor_view> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// A tensor to write: name, type, shape and its raw little-endian bytes.
struct tensor_data {
  std::string name;
  dtype type = dtype::f32;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

/// Writes a .safetensors file (header padded to 8 bytes, tensors in name order) atomically
/// (temporary file + rename). Errors: invalid_request for inconsistent shapes/sizes, or the
/// I/O failure.
caf::error write_safetensors(const std::filesystem::path& path, std::span<const tensor_data> tensors,
                             const std::map<std::string, std::string>& metadata = {});

} // namespace dynamo::model
