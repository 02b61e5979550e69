// The UCX side of an agent: one UCP context and worker owned by a progress thread, the
// endpoints and rkeys of peers, and the transfers in flight. Everything that touches UCX runs
// on that thread; other threads hand work over through a queue and an eventfd.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/plane/data.hpp"
#include "dynamo/ucx/internal/remote_key.hpp"
#include "dynamo/ucx/ucx_data.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dynamo::ucx::internal {

/// A validated transfer, handed to the worker.
struct transfer_request {
  transfer_id id = 0;
  transfer_direction dir = transfer_direction::read;
  uint64_t local_region = 0;
  std::byte* local_base = nullptr;
  remote_key remote;
  std::vector<block_copy> blocks;
  std::function<void(caf::error)> on_done;
};

/// A region mapped by the worker's context.
struct mapped_region {
  std::byte* base = nullptr;
  std::string rkey;  ///< Packed rkey.
};

/// The progress thread and all UCX state of one agent (defined in ucx_worker.cpp).
class ucx_worker {
public:
  /// Called on the worker thread when a transfer stops touching a local region (never after
  /// stop() began).
  using unpin_fn = std::function<void(uint64_t region_id)>;

  class impl;

  /// Creates context and worker and starts the progress thread. Errors: unavailable when UCX
  /// cannot start, invalid_request for rejected options. Any thread.
  static caf::expected<std::shared_ptr<ucx_worker>> start(const ucx_options& opts,
                                                          unpin_fn unpin);

  ~ucx_worker();

  ucx_worker(const ucx_worker&) = delete;
  ucx_worker& operator=(const ucx_worker&) = delete;

  /// This worker's packed UCP address. Any thread.
  const std::string& address() const;

  /// True on the progress thread (inside on_done callbacks). Any thread.
  bool on_worker_thread() const;

  /// Maps [base, base+size) (allocate: UCX allocates `size` zeroed bytes, base ignored) under
  /// `region_id`. Errors: unavailable when UCX refuses. Any thread; blocks until done.
  caf::expected<mapped_region> map(uint64_t region_id, std::byte* base, size_t size,
                                   bool allocate);

  /// Unmaps `region_id` (freeing UCX-allocated memory). Errors: not_found. Any thread; blocks.
  caf::error unmap(uint64_t region_id);

  /// Starts `req`; its on_done runs exactly once on the progress thread. Any thread.
  void submit(transfer_request req);

  /// Transfers submitted whose on_done has not started. Any thread.
  size_t in_flight() const;

  /// Runs one round of progress (queued work, UCX progress, deadlines, completions).
  /// Progress thread only (used to wait from inside on_done).
  void pump();

  /// Lets in-flight transfers finish (bounded by shutdown_timeout), fails the rest, closes
  /// endpoints and releases all UCX resources; joins the thread, or lets it finish on its own
  /// when called from it. Any thread; call once.
  void stop();

private:
  explicit ucx_worker(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

} // namespace dynamo::ucx::internal
