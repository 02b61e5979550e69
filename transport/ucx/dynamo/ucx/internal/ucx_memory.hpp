// Memory registration with a UCP context: mapping existing memory or letting UCX allocate it
// (shared memory that peers reach truly one-sided), plus the packed rkey peers need.
#pragma once

#include "dynamo/ucx/internal/ucx_worker.hpp"

#include <caf/expected.hpp>
#include <ucp/api/ucp.h>

#include <cstddef>
#include <utility>

namespace dynamo::ucx::internal {

/// Maps [base, base+size) with `context`, or (allocate) lets UCX allocate `size` bytes, which
/// are zero-filled and 64-byte aligned. Returns the handle (unmap with ucp_mem_unmap) and the
/// region with its packed rkey. Errors: unavailable when UCX refuses or allocates unusable
/// memory. Thread that owns the context.
caf::expected<std::pair<ucp_mem_h, mapped_region>>
map_memory(ucp_context_h context, std::byte* base, size_t size, bool allocate);

} // namespace dynamo::ucx::internal
