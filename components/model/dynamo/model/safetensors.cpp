#include "dynamo/model/safetensors.hpp"

#include "dynamo/error.hpp"
#include "dynamo/model/file_util.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts are not supported");

namespace dynamo::model {

namespace {

/// The Rust reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t max_header_bytes = 100'000'000;

caf::error invalid(std::string message, std::string detail = {}) {
  return make_error(errc::invalid_request, std::move(message), std::move(detail));
}

// --- element conversion ---------------------------------------------------------------------

void f16_to_f32(const std::byte* src, float* dst, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) {
    uint16_t h = 0;
    std::memcpy(&h, src + 2 * i, 2);
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = h & 0x7c00u;
    const uint32_t mant = h & 0x03ffu;
    // Normal numbers: rebias the exponent from 15 to 127 (112 << 23 == 0x38000000).
    const uint32_t normal = ((static_cast<uint32_t>(h & 0x7fffu) << 13) + 0x38000000u);
    // Subnormals: mant * 2^-24, computed on normal floats so FTZ/DAZ modes cannot flush them.
    const uint32_t subnormal =
      std::bit_cast<uint32_t>(static_cast<float>(static_cast<int32_t>(mant)) * 0x1p-24f);
    const uint32_t special = 0x7f800000u | (mant << 13);  // inf or NaN (payload kept)
    // Branch-free selection so the loop vectorizes.
    const uint32_t is_subnormal = 0u - static_cast<uint32_t>(exp == 0);
    const uint32_t is_special = 0u - static_cast<uint32_t>(exp == 0x7c00u);
    const uint32_t bits = (subnormal & is_subnormal) | (special & is_special)
                          | (normal & ~(is_subnormal | is_special));
    dst[i] = std::bit_cast<float>(bits | sign);
  }
}

void bf16_to_f32(const std::byte* src, float* dst, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) {
    uint16_t h = 0;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
  }
}

uint16_t f32_to_f16(float value) noexcept {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf or NaN; NaN keeps the top of its payload and stays quiet
    const uint32_t nan_bits = ax > 0x7f800000u ? (0x0200u | ((ax >> 13) & 0x03ffu)) : 0u;
    return static_cast<uint16_t>(sign | 0x7c00u | nan_bits);
  }
  if (ax >= 0x477ff000u)  // >= 65520 rounds to infinity
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax >= 0x38800000u) {  // normal in f16: round the 13 dropped bits to nearest even
    const uint32_t rounded = ax + 0x0fffu + ((ax >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }
  // Subnormal (or zero) in f16: the result is round(|value| * 2^24) as an integer mantissa.
  const uint32_t exp = ax >> 23;
  if (exp < 102)  // below 2^-25: rounds to zero (2^-25 itself ties to the even zero)
    return sign;
  const uint32_t mant = (ax & 0x007fffffu) | 0x00800000u;
  const uint32_t shift = 126 - exp;  // 14..24
  uint32_t result = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (result & 1u)))
    ++result;
  return static_cast<uint16_t>(sign | result);
}

uint16_t f32_to_bf16(float value) noexcept {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  if ((x & 0x7fffffffu) > 0x7f800000u)  // NaN: truncate and keep it quiet
    return static_cast<uint16_t>((x >> 16) | 0x0040u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// --- header validation ----------------------------------------------------------------------

struct parsed_entry {
  tensor_view view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

caf::expected<uint64_t> as_offset(const nlohmann::json& x) {
  if (x.is_number_unsigned())
    return x.get<uint64_t>();
  if (x.is_number_integer() && x.get<int64_t>() >= 0)
    return static_cast<uint64_t>(x.get<int64_t>());
  return invalid("not a non-negative integer");
}

caf::expected<parsed_entry> parse_entry(const std::string& file, const std::string& name,
                                        const nlohmann::json& x) {
  auto bad = [&file, &name](std::string_view what) {
    return invalid(fmt::format("{}: tensor '{}': {}", file, name, what));
  };
  if (!x.is_object())
    return bad("entry is not a JSON object");
  auto dt = x.find("dtype");
  auto sh = x.find("shape");
  auto off = x.find("data_offsets");
  if (dt == x.end() || !dt->is_string())
    return bad("missing or non-string 'dtype'");
  if (sh == x.end() || !sh->is_array())
    return bad("missing or non-array 'shape'");
  if (off == x.end() || !off->is_array() || off->size() != 2)
    return bad("'data_offsets' must be an array [begin, end]");
  auto type = parse_dtype(dt->get<std::string>());
  if (!type)
    return invalid(fmt::format("{}: unsupported dtype {} for tensor {}; supported: F32, F16, BF16",
                               file, dt->get<std::string>(), name));
  parsed_entry result;
  result.view.name = name;
  result.view.type = *type;
  uint64_t elements = 1;
  for (const auto& dim : *sh) {
    auto d = as_offset(dim);
    if (!d || *d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return bad("shape entries must be non-negative integers");
    if (__builtin_mul_overflow(elements, *d, &elements))
      return bad("shape product overflows");
    result.view.shape.push_back(static_cast<int64_t>(*d));
  }
  auto begin = as_offset((*off)[0]);
  auto end = as_offset((*off)[1]);
  if (!begin || !end)
    return bad("data_offsets must be non-negative integers");
  if (*begin > *end)
    return bad(fmt::format("data_offsets [{}, {}] end before they begin", *begin, *end));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, element_size(*type), &bytes))
    return bad("byte size overflows");
  if (bytes != *end - *begin)
    return bad(fmt::format("shape [{}] of {} needs {} bytes but data_offsets [{}, {}] span {}",
                           fmt::join(result.view.shape, ", "), to_string(*type), bytes, *begin,
                           *end, *end - *begin));
  result.begin = *begin;
  result.end = *end;
  return result;
}

} // namespace

std::string_view to_string(dtype x) noexcept {
  switch (x) {
    case dtype::f32:
      return "F32";
    case dtype::f16:
      return "F16";
    case dtype::bf16:
      return "BF16";
  }
  return "?";
}

size_t element_size(dtype x) noexcept {
  return x == dtype::f32 ? 4 : 2;
}

caf::expected<dtype> parse_dtype(std::string_view name) {
  if (name == "F32")
    return dtype::f32;
  if (name == "F16")
    return dtype::f16;
  if (name == "BF16")
    return dtype::bf16;
  return invalid(fmt::format("unsupported dtype {}; supported: F32, F16, BF16", name));
}

size_t tensor_view::elements() const noexcept {
  size_t n = 1;
  for (auto d : shape)
    n *= static_cast<size_t>(d);
  return n;
}

caf::error to_f32(dtype type, std::span<const std::byte> bytes, std::span<float> out) {
  const size_t size = element_size(type);
  if (bytes.size() % size != 0 || bytes.size() / size != out.size())
    return invalid(fmt::format("to_f32: {} bytes of {} do not make {} floats", bytes.size(),
                               to_string(type), out.size()));
  const size_t n = out.size();
  switch (type) {
    case dtype::f32:
      if (n > 0)
        std::memcpy(out.data(), bytes.data(), n * 4);
      break;
    case dtype::f16:
      f16_to_f32(bytes.data(), out.data(), n);
      break;
    case dtype::bf16:
      bf16_to_f32(bytes.data(), out.data(), n);
      break;
  }
  return {};
}

caf::error to_f32(const tensor_view& t, std::span<float> out) {
  if (out.size() != t.elements())
    return invalid(fmt::format("to_f32: tensor '{}' has {} elements, output has room for {}",
                               t.name, t.elements(), out.size()));
  return to_f32(t.type, t.data, out);
}

std::vector<std::byte> from_f32(std::span<const float> values, dtype type) {
  std::vector<std::byte> out(values.size() * element_size(type));
  switch (type) {
    case dtype::f32:
      if (!values.empty())
        std::memcpy(out.data(), values.data(), out.size());
      break;
    case dtype::f16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t h = f32_to_f16(values[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    case dtype::bf16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t h = f32_to_bf16(values[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
  }
  return out;
}

// --- reading ----------------------------------------------------------------------------------

caf::expected<std::shared_ptr<const safetensors_file>>
safetensors_file::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  unique_fd fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return invalid(fmt::format("cannot open {}: {}", file, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return invalid(fmt::format("cannot stat {}: {}", file, std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    return invalid(fmt::format("{}: not a regular file", file));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8)
    return invalid(fmt::format("{}: file has {} bytes, too small for a safetensors header", file,
                               size));
  uint64_t header_len = 0;
  if (::pread(fd.get(), &header_len, 8, 0) != 8)
    return invalid(fmt::format("cannot read {}: {}", file, std::strerror(errno)));
  if (header_len > size - 8)
    return invalid(fmt::format("{}: header length {} exceeds the file size {}", file, header_len,
                               size));
  if (header_len > max_header_bytes)
    return invalid(fmt::format("{}: header length {} exceeds the limit of {} bytes", file,
                               header_len, max_header_bytes));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (map == MAP_FAILED)
    return invalid(fmt::format("cannot map {}: {}", file, std::strerror(errno)));
  std::shared_ptr<safetensors_file> result{new safetensors_file()};
  result->path_ = path;
  result->map_ = map;
  result->map_size_ = size;

  const auto* base = static_cast<const std::byte*>(map);
  const auto* header_begin = reinterpret_cast<const char*>(base + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_len);
  } catch (const nlohmann::json::exception& e) {
    return invalid(fmt::format("{}: header is not valid JSON", file), e.what());
  }
  if (!header.is_object())
    return invalid(fmt::format("{}: header is not a JSON object", file));

  const std::byte* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<parsed_entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object())
        return invalid(fmt::format("{}: __metadata__ is not a JSON object", file));
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string())
          return invalid(fmt::format("{}: __metadata__ value of '{}' is not a string", file, key));
        result->metadata_.emplace(key, text.get<std::string>());
      }
      continue;
    }
    auto entry = parse_entry(file, name, value);
    if (!entry)
      return std::move(entry.error());
    entries.push_back(std::move(*entry));
  }

  uint64_t max_end = 0;
  for (const auto& e : entries)
    max_end = std::max(max_end, e.end);
  if (max_end > data_size)
    return invalid(fmt::format("{}: truncated: header says {} bytes of data, file has {}", file,
                               max_end, data_size));
  std::sort(entries.begin(), entries.end(), [](const parsed_entry& a, const parsed_entry& b) {
    return std::pair{a.begin, a.end} < std::pair{b.begin, b.end};
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const auto& prev = entries[i - 1];
    const auto& cur = entries[i];
    if (cur.begin < prev.end)
      return invalid(fmt::format("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", file,
                                 prev.view.name, prev.begin, prev.end, cur.view.name, cur.begin,
                                 cur.end));
  }
  for (auto& e : entries) {
    e.view.data = std::span<const std::byte>{data + e.begin, static_cast<size_t>(e.end - e.begin)};
    auto key = e.view.name;
    result->tensors_.emplace(std::move(key), std::move(e.view));
  }
  return std::shared_ptr<const safetensors_file>{std::move(result)};
}

safetensors_file::~safetensors_file() {
  if (map_ != nullptr)
    ::munmap(map_, map_size_);
}

const tensor_view* safetensors_file::find(const std::string& name) const {
  auto i = tensors_.find(name);
  return i == tensors_.end() ? nullptr : &i->second;
}

// --- writing ----------------------------------------------------------------------------------

caf::error write_safetensors(const std::filesystem::path& path,
                             std::span<const tensor_data> tensors,
                             const std::map<std::string, std::string>& metadata) {
  std::vector<const tensor_data*> sorted;
  sorted.reserve(tensors.size());
  for (const auto& t : tensors)
    sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const tensor_data* a, const tensor_data* b) { return a->name < b->name; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"];
    meta = nlohmann::json::object();
    for (const auto& [key, value] : metadata)
      meta[key] = value;
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = *sorted[i];
    if (t.name.empty() || t.name == "__metadata__")
      return invalid(fmt::format("write_safetensors: invalid tensor name '{}'", t.name));
    if (i > 0 && sorted[i - 1]->name == t.name)
      return invalid(fmt::format("write_safetensors: duplicate tensor name '{}'", t.name));
    uint64_t elements = 1;
    for (auto d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements))
        return invalid(fmt::format("write_safetensors: tensor '{}' has an invalid shape", t.name));
    }
    if (elements * element_size(t.type) != t.bytes.size())
      return invalid(fmt::format("write_safetensors: tensor '{}' of shape [{}] {} needs {} bytes, "
                                 "got {}",
                                 t.name, fmt::join(t.shape, ", "), to_string(t.type),
                                 elements * element_size(t.type), t.bytes.size()));
    header[t.name] = {{"dtype", std::string{to_string(t.type)}},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();

  atomic_file out;
  if (auto err = out.create(path))
    return err;
  if (auto err = out.write(std::as_bytes(std::span{&header_len, 1})))
    return err;
  if (auto err = out.write(std::as_bytes(std::span{text})))
    return err;
  for (const auto* t : sorted)
    if (auto err = out.write(t->bytes))
      return err;
  return out.commit();
}

} // namespace dynamo::model
