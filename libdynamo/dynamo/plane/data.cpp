#include "dynamo/plane/data.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace dynamo {

data_plane::~data_plane() = default;

namespace {

// True when `next` starts right where [offset, offset+length) ends (without wrapping around).
bool follows(uint64_t offset, uint64_t length, uint64_t next) noexcept {
  return next >= offset && next - offset == length;
}

} // namespace

std::vector<block_copy> coalesce(std::vector<block_copy> blocks) {
  if (blocks.size() < 2)
    return blocks;
  size_t out = 0;
  for (size_t i = 1; i < blocks.size(); ++i) {
    auto& last = blocks[out];
    const auto& next = blocks[i];
    if (follows(last.local_offset, last.length, next.local_offset)
        && follows(last.remote_offset, last.length, next.remote_offset)
        && last.length <= std::numeric_limits<uint64_t>::max() - next.length) {
      last.length += next.length;
    } else {
      blocks[++out] = next;
    }
  }
  blocks.resize(out + 1);
  return blocks;
}

namespace {

bool fits(uint64_t offset, uint64_t length, uint64_t size) noexcept {
  return offset <= size && length <= size - offset;
}

} // namespace

caf::error validate_blocks(transfer_direction dir, const std::vector<block_copy>& blocks,
                           uint64_t local_size, uint64_t remote_size) {
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    if (b.length == 0)
      return make_error(errc::invalid_request, fmt::format("block {} has length 0", i));
    if (!fits(b.local_offset, b.length, local_size))
      return make_error(errc::invalid_request,
                        fmt::format("block {} exceeds the local region", i),
                        fmt::format("offset {} + length {} > size {}", b.local_offset, b.length,
                                    local_size));
    if (!fits(b.remote_offset, b.length, remote_size))
      return make_error(errc::invalid_request,
                        fmt::format("block {} exceeds the remote region", i),
                        fmt::format("offset {} + length {} > size {}", b.remote_offset,
                                    b.length, remote_size));
  }
  struct range {
    uint64_t offset;
    uint64_t length;
    size_t index;
  };
  std::vector<range> dst;
  dst.reserve(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    auto offset = dir == transfer_direction::read ? b.local_offset : b.remote_offset;
    dst.push_back({offset, b.length, i});
  }
  std::sort(dst.begin(), dst.end(),
            [](const range& x, const range& y) { return x.offset < y.offset; });
  for (size_t i = 1; i < dst.size(); ++i)
    if (dst[i - 1].offset + dst[i - 1].length > dst[i].offset)
      return make_error(errc::invalid_request,
                        fmt::format("blocks {} and {} overlap at the destination",
                                    std::min(dst[i - 1].index, dst[i].index),
                                    std::max(dst[i - 1].index, dst[i].index)));
  return {};
}

} // namespace dynamo
