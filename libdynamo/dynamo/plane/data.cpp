#include "dynamo/plane/data.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
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

namespace {

constexpr std::string_view descriptor_prefix = "dynreg1";
constexpr char descriptor_sep = ':';
constexpr std::string_view b64_alphabet
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&in](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    auto x = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6)
      out += b64_alphabet[(x >> shift) & 0x3f];
  }
  if (auto rest = in.size() - i; rest > 0) {
    auto x = byte(i) << 16;
    if (rest == 2)
      x |= byte(i + 1) << 8;
    out += b64_alphabet[(x >> 18) & 0x3f];
    out += b64_alphabet[(x >> 12) & 0x3f];
    out += rest == 2 ? b64_alphabet[(x >> 6) & 0x3f] : '=';
    out += '=';
  }
  return out;
}

// Strict: canonical padding only, no whitespace, unused trailing bits must be zero.
bool unbase64(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0)
    return false;
  std::array<int8_t, 256> value{};
  value.fill(-1);
  for (size_t k = 0; k < b64_alphabet.size(); ++k)
    value[static_cast<unsigned char>(b64_alphabet[k])] = static_cast<int8_t>(k);
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    size_t pad = 0;
    if (last)
      pad = in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0;
    uint32_t x = 0;
    for (size_t k = 0; k < 4; ++k) {
      if (k >= 4 - pad) {
        x <<= 6;
        continue;
      }
      auto v = value[static_cast<unsigned char>(in[i + k])];
      if (v < 0)
        return false;
      x = (x << 6) | static_cast<uint32_t>(v);
    }
    if ((pad == 1 && (x & 0xff) != 0) || (pad == 2 && (x & 0xffff) != 0))
      return false;
    out += static_cast<char>((x >> 16) & 0xff);
    if (pad < 2)
      out += static_cast<char>((x >> 8) & 0xff);
    if (pad < 1)
      out += static_cast<char>(x & 0xff);
  }
  return true;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0'))
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

caf::error malformed(std::string_view what, std::string_view text) {
  constexpr size_t shown = 80;
  return make_error(errc::invalid_request, fmt::format("malformed region descriptor: {}", what),
                    fmt::format("'{}{}'", text.substr(0, shown), text.size() > shown ? "..." : ""));
}

} // namespace

std::string encode_descriptor(const region_descriptor& d) {
  return fmt::format("{}{}{}{}{}{}{}{}{}", descriptor_prefix, descriptor_sep, base64(d.agent),
                     descriptor_sep, d.region_id, descriptor_sep, d.size, descriptor_sep,
                     base64(d.remote_key));
}

caf::expected<region_descriptor> decode_descriptor(std::string_view text) {
  std::array<std::string_view, 5> parts;
  size_t n = 0;
  size_t start = 0;
  for (;;) {
    auto pos = text.find(descriptor_sep, start);
    if (n == parts.size())
      return malformed("too many fields", text);
    parts[n++] = text.substr(start, pos == std::string_view::npos ? pos : pos - start);
    if (pos == std::string_view::npos)
      break;
    start = pos + 1;
  }
  if (n != parts.size())
    return malformed("expected 5 ':'-separated fields", text);
  if (parts[0] != descriptor_prefix)
    return malformed(fmt::format("does not start with '{}'", descriptor_prefix), text);
  region_descriptor d;
  if (!unbase64(parts[1], d.agent) || d.agent.empty())
    return malformed("the agent name is not non-empty base64", text);
  if (!parse_u64(parts[2], d.region_id))
    return malformed("the region id is not a decimal number", text);
  if (!parse_u64(parts[3], d.size) || d.size == 0)
    return malformed("the size is not a positive decimal number", text);
  if (!unbase64(parts[4], d.remote_key))
    return malformed("the remote key is not base64", text);
  return d;
}

} // namespace dynamo
