// The memory of the mocker's simulated KV pool, laid out as engine::kv_pool_view describes, and
// the writing and checking of its deterministic content (see kv_content.hpp).
#pragma once

#include "dynamo/engine/engine.hpp"
#include "dynamo/mocker/mocker_config.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace dynamo::mocker {

/// Where a block's content first differs from what it should be.
struct kv_mismatch {
  uint32_t layer = 0;  ///< First layer (in order) whose region differs.
  uint64_t byte = 0;   ///< Offset of the first differing byte inside that region.
};

/// The simulated pool: kv_layers x total_kv_blocks regions of block_size * kv_bytes_per_token /
/// kv_layers bytes. Owns its memory unless a provider supplied it. Movable; used from the
/// engine's thread only.
class simulated_kv_pool {
public:
  /// Builds the pool of `cfg` (precondition: validate(cfg) passed and kv_bytes_per_token > 0):
  /// memory from `provider` when non-empty (called once), else an own zeroed mapping. Errors:
  /// the provider's error as is; internal for a null or not 64-byte aligned pointer from it;
  /// overloaded when the own mapping fails.
  static caf::expected<simulated_kv_pool> make(const mocker_config& cfg,
                                               const engine::kv_memory_provider& provider);

  /// The pool as the data plane sees it.
  engine::kv_pool_view view() const noexcept { return view_; }

  /// Writes the content of a block whose key is `key` (kv_block_key) into its region in every
  /// layer. Precondition: block < view().blocks (on_internal_error otherwise).
  void write(uint32_t block, uint64_t key) noexcept;

  /// Checks a block's regions in every layer against the content of `key`; the first mismatch
  /// or nullopt. Precondition: block < view().blocks (on_internal_error otherwise).
  std::optional<kv_mismatch> verify(uint32_t block, uint64_t key) const noexcept;

private:
  struct unmap {
    uint64_t bytes = 0;
    void operator()(std::byte* p) const noexcept;
  };

  simulated_kv_pool(engine::kv_pool_view view, std::unique_ptr<std::byte, unmap> owned);

  uint64_t* words(uint32_t layer, uint32_t block) const noexcept;

  engine::kv_pool_view view_;
  std::unique_ptr<std::byte, unmap> owned_;  // empty when the memory was provided
};

} // namespace dynamo::mocker
