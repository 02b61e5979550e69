#include "dynamo/mocker/kv_pool.hpp"

#include "dynamo/error.hpp"
#include "dynamo/mocker/kv_content.hpp"

#include <fmt/format.h>

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <span>

namespace dynamo::mocker {

namespace {

// Alignment a provided pool must have (engine::kv_memory_provider's contract).
constexpr uintptr_t provided_alignment = 64;

} // namespace

void simulated_kv_pool::unmap::operator()(std::byte* p) const noexcept {
  if (p != nullptr)
    ::munmap(p, bytes);
}

simulated_kv_pool::simulated_kv_pool(engine::kv_pool_view view,
                                     std::unique_ptr<std::byte, unmap> owned)
  : view_(view), owned_(std::move(owned)) {
}

caf::expected<simulated_kv_pool>
simulated_kv_pool::make(const mocker_config& cfg, const engine::kv_memory_provider& provider) {
  if (cfg.kv_bytes_per_token == 0 || cfg.kv_layers == 0)
    on_internal_error("mocker: a simulated KV pool needs kv_bytes_per_token and kv_layers");
  engine::kv_pool_view view;
  view.layers = cfg.kv_layers;
  view.blocks = static_cast<uint32_t>(cfg.total_kv_blocks);
  view.region_bytes = uint64_t{cfg.block_size} * cfg.kv_bytes_per_token / cfg.kv_layers;
  const uint64_t bytes = view.bytes();
  if (provider) {
    auto provided = provider(bytes);
    if (!provided)
      return std::move(provided.error());
    if (*provided == nullptr || reinterpret_cast<uintptr_t>(*provided) % provided_alignment != 0)
      return make_error(errc::internal, "the KV cache memory is unusable",
                        fmt::format("mocker: the KV memory provider returned {} for {} bytes; a "
                                    "non-null {}-byte aligned pointer is required",
                                    static_cast<const void*>(*provided), bytes,
                                    provided_alignment));
    view.base = *provided;
    std::memset(view.base, 0, bytes);
    return simulated_kv_pool{view, std::unique_ptr<std::byte, unmap>{nullptr, unmap{0}}};
  }
  // An anonymous mapping is zeroed and commits pages only when they are first written, so a
  // large simulated pool costs what the workload touches.
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED)
    return make_error(errc::overloaded, "not enough memory for the KV cache",
                      fmt::format("mocker: mapping a KV pool of {} bytes failed: {}", bytes,
                                  std::strerror(errno)));
  view.base = static_cast<std::byte*>(mapped);
  return simulated_kv_pool{view, std::unique_ptr<std::byte, unmap>{view.base, unmap{bytes}}};
}

uint64_t* simulated_kv_pool::words(uint32_t layer, uint32_t block) const noexcept {
  if (block >= view_.blocks || layer >= view_.layers)
    on_internal_error(fmt::format("mocker: KV region ({}, {}) is outside a pool of {} layers x "
                                  "{} blocks",
                                  layer, block, view_.layers, view_.blocks));
  return reinterpret_cast<uint64_t*>(view_.base + view_.offset(layer, block));
}

void simulated_kv_pool::write(uint32_t block, uint64_t key) noexcept {
  const size_t count = view_.region_bytes / sizeof(uint64_t);
  for (uint32_t layer = 0; layer < view_.layers; ++layer)
    fill_kv_pattern({words(layer, block), count}, kv_pattern_seed(key, layer));
}

std::optional<kv_mismatch> simulated_kv_pool::verify(uint32_t block,
                                                     uint64_t key) const noexcept {
  const size_t count = view_.region_bytes / sizeof(uint64_t);
  for (uint32_t layer = 0; layer < view_.layers; ++layer) {
    const std::span<const uint64_t> region{words(layer, block), count};
    const auto at = find_kv_mismatch(region, kv_pattern_seed(key, layer));
    if (at != region.size_bytes())
      return kv_mismatch{layer, at};
  }
  return std::nullopt;
}

} // namespace dynamo::mocker
