// The data plane: bulk copies of KV-cache blocks between registered memory regions of worker
// processes ("agents"), one-sided (the remote side's CPU is not involved). Backends:
// in-process (memcpy between agents of one fabric), UCX (RDMA/TCP).
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

/// Everything a peer needs to address a registered region. Travels between processes (for
/// instance inside discovery metadata); treat it as opaque apart from `size`.
struct region_descriptor {
  /// The owning agent's name.
  std::string agent;
  uint64_t region_id = 0;
  uint64_t size = 0;
  /// Backend-specific opaque bytes (the rkey for UCX, an access token in-process).
  std::string remote_key;

  friend bool operator==(const region_descriptor&, const region_descriptor&) = default;
};

/// Memory a backend allocated and registered for transfers (see data_plane::allocate_region).
struct allocated_region {
  std::byte* base = nullptr;      ///< Start of the memory, 64-byte aligned, zero-filled.
  region_descriptor descriptor;   ///< Its registration (descriptor.size bytes).
};

/// One contiguous copy: `length` bytes at `local_offset` of the local region and at
/// `remote_offset` of the remote region.
struct block_copy {
  uint64_t local_offset;
  uint64_t remote_offset;
  uint64_t length;

  friend bool operator==(const block_copy&, const block_copy&) = default;
};

/// read: remote -> local; write: local -> remote.
enum class transfer_direction : uint8_t { read, write };

/// Identifies a transfer started by transfer(); unique per agent.
using transfer_id = uint64_t;

/// Data-plane backend: one agent per worker process. Thread-safe: any thread may call any
/// member. `on_done` callbacks run on a backend thread, never while a backend lock is held.
/// Destruction lets this agent's transfers finish and waits for their on_done callbacks
/// (except the one it is called from, if any).
class data_plane {
public:
  virtual ~data_plane();

  /// Backend name for logs ("inproc", "ucx"). Any thread.
  virtual std::string name() const = 0;

  /// This agent's name, as carried in its region descriptors. Any thread.
  virtual const std::string& agent() const = 0;

  /// Registers memory [base, base+size) for transfers; the memory is borrowed and must stay
  /// valid until deregister_region. Errors: invalid_request (null/zero size).
  virtual caf::expected<region_descriptor> register_region(void* base, size_t size) = 0;

  /// Allocates `size` bytes and registers them; the memory is the backend's and is freed by
  /// deregister_region(descriptor.region_id) or with the agent. Prefer it for memory peers
  /// write into: UCX maps memory it allocates itself so that peers reach it truly one-sided
  /// (twice the bandwidth of registered private memory, no progress needed on the owner).
  /// Errors: invalid_request (size 0), unavailable (allocation or mapping failed). Any thread.
  virtual caf::expected<allocated_region> allocate_region(size_t size) = 0;

  /// Ends a registration; when it returns no transfer touches the memory any more (it waits
  /// for copies in progress). Errors: not_found if unknown.
  virtual caf::error deregister_region(uint64_t region_id) = 0;

  /// Starts copying each block between local region `local_region` and `remote`;
  /// `on_done` runs exactly once (on a backend thread) with none or a classified error.
  /// Validation errors are returned and on_done is then never called: invalid_request (empty
  /// on_done, zero-length, out-of-bounds or overflowing block, destination blocks that
  /// overlap), not_found (unknown local region, unknown remote agent or region, stale
  /// descriptor). Errors that arise while the transfer runs go to on_done: not_found (a region
  /// was deregistered meanwhile), disconnected (peer gone), deadline_exceeded. An empty block
  /// list is valid and completes with none.
  virtual caf::expected<transfer_id> transfer(transfer_direction dir, uint64_t local_region,
                                              const region_descriptor& remote,
                                              std::vector<block_copy> blocks,
                                              std::function<void(caf::error)> on_done)
    = 0;

  /// Transfers started whose on_done has not started yet. Any thread.
  virtual size_t in_flight() const = 0;

  /// Regions registered right now. Any thread.
  virtual size_t registered_regions() const = 0;
};

/// Encodes `d` as one printable line (for discovery metadata, e.g. the data_address key).
/// Any thread.
std::string encode_descriptor(const region_descriptor& d);

/// Decodes encode_descriptor's output. Errors: invalid_request naming what is malformed.
/// Any thread.
caf::expected<region_descriptor> decode_descriptor(std::string_view text);

/// Merges adjacent blocks that are contiguous on both sides (keeps order). Shared by backends.
std::vector<block_copy> coalesce(std::vector<block_copy> blocks);

/// Checks `blocks` against the local and remote region sizes: non-zero lengths, no overflow,
/// in bounds, and no two blocks overlapping on the destination side (local for read, remote
/// for write). Returns invalid_request naming the first offending block. Shared by backends.
caf::error validate_blocks(transfer_direction dir, const std::vector<block_copy>& blocks,
                           uint64_t local_size, uint64_t remote_size);

} // namespace dynamo
