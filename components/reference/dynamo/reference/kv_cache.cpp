#include "dynamo/reference/kv_cache.hpp"

#include <cstring>

namespace dynamo::reference {

kv_cache::kv_cache(const kv_geometry& g, std::byte* memory)
  : geometry_(g),
    owned_(memory == nullptr ? std::make_unique<float[]>(g.total_bytes() / sizeof(float))
                             : nullptr),
    data_(memory == nullptr ? owned_.get() : reinterpret_cast<float*>(memory)) {
  if (memory != nullptr)
    std::memset(memory, 0, g.total_bytes());
}

} // namespace dynamo::reference
