#include "dynamo/ucx/internal/remote_key.hpp"

#include "dynamo/error.hpp"

#include <cstring>
#include <limits>

namespace dynamo::ucx::internal {

namespace {

constexpr std::string_view magic = "DUCX\x01";
/// Upper bound of each variable-length field (worker addresses are ~200 B, rkeys ~30 B).
constexpr uint32_t max_field = 64 << 10;

template <class T>
void put(std::string& out, T x) {
  char buf[sizeof(T)];
  std::memcpy(buf, &x, sizeof(T));
  out.append(buf, sizeof(T));
}

void put_bytes(std::string& out, std::string_view bytes) {
  put(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

/// A bounds-checked reader over the packed bytes.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {
  }

  template <class T>
  bool get(T& x) {
    if (in_.size() < sizeof(T))
      return false;
    std::memcpy(&x, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }

  bool get_bytes(std::string& out) {
    uint32_t n = 0;
    if (!get(n) || n > max_field || in_.size() < n)
      return false;
    out.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }

  bool done() const noexcept {
    return in_.empty();
  }

private:
  std::string_view in_;
};

caf::error malformed(const char* what) {
  return make_error(errc::invalid_request, "malformed UCX remote key", what);
}

} // namespace

std::string pack(const remote_key& key) {
  std::string out{magic};
  put_bytes(out, key.agent);
  put(out, key.region_id);
  put(out, key.base);
  put(out, key.size);
  put_bytes(out, key.worker_address);
  put_bytes(out, key.rkey);
  return out;
}

caf::expected<remote_key> unpack(std::string_view bytes) {
  if (bytes.substr(0, magic.size()) != magic)
    return malformed("not a UCX remote key (bad magic or version)");
  reader in{bytes.substr(magic.size())};
  remote_key key;
  if (!in.get_bytes(key.agent) || !in.get(key.region_id) || !in.get(key.base)
      || !in.get(key.size) || !in.get_bytes(key.worker_address) || !in.get_bytes(key.rkey))
    return malformed("truncated");
  if (!in.done())
    return malformed("trailing bytes");
  if (key.agent.empty() || key.worker_address.empty() || key.rkey.empty() || key.size == 0)
    return malformed("empty agent, worker address, rkey or size");
  if (key.base > std::numeric_limits<uint64_t>::max() - key.size)
    return malformed("the region wraps around the address space");
  return key;
}

} // namespace dynamo::ucx::internal
