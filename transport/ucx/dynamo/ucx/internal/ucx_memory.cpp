#include "dynamo/ucx/internal/ucx_memory.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dynamo::ucx::internal {

namespace {

std::string status_text(std::string_view call, ucs_status_t st) {
  return fmt::format("{}: {}", call, ucs_status_string(st));
}

} // namespace

caf::expected<std::pair<ucp_mem_h, mapped_region>>
map_memory(ucp_context_h context, std::byte* base, size_t size, bool allocate) {
  ucp_mem_map_params_t p{};
  p.field_mask = UCP_MEM_MAP_PARAM_FIELD_LENGTH | UCP_MEM_MAP_PARAM_FIELD_FLAGS;
  p.length = size;
  if (allocate) {
    p.flags = UCP_MEM_MAP_ALLOCATE;
  } else {
    p.field_mask |= UCP_MEM_MAP_PARAM_FIELD_ADDRESS;
    p.address = base;
  }
  ucp_mem_h memh = nullptr;
  if (auto st = ucp_mem_map(context, &p, &memh); st != UCS_OK)
    return make_error(errc::unavailable,
                      allocate ? "UCX could not allocate the region"
                               : "UCX could not register the region",
                      fmt::format("{} bytes: {}", size, status_text("ucp_mem_map", st)));
  mapped_region result{base, {}};
  if (allocate) {
    ucp_mem_attr_t attr{};
    attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH;
    auto st = ucp_mem_query(memh, &attr);
    if (st != UCS_OK || attr.length < size
        || reinterpret_cast<uintptr_t>(attr.address) % 64 != 0) {
      ucp_mem_unmap(context, memh);
      return make_error(errc::unavailable, "UCX allocated an unusable region",
                        st != UCS_OK ? status_text("ucp_mem_query", st)
                                     : fmt::format("{} bytes at {} for {} requested",
                                                   attr.length, attr.address, size));
    }
    result.base = static_cast<std::byte*>(attr.address);
    std::memset(result.base, 0, size);
  }
  void* packed = nullptr;
  size_t packed_len = 0;
  if (auto st = ucp_rkey_pack(context, memh, &packed, &packed_len); st != UCS_OK) {
    ucp_mem_unmap(context, memh);
    return make_error(errc::unavailable, "UCX could not make a remote key",
                      status_text("ucp_rkey_pack", st));
  }
  result.rkey.assign(static_cast<const char*>(packed), packed_len);
  ucp_rkey_buffer_release(packed);
  return std::pair{memh, std::move(result)};
}

} // namespace dynamo::ucx::internal
