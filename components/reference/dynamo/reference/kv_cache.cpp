#include "dynamo/reference/kv_cache.hpp"

namespace dynamo::reference {

kv_cache::kv_cache(const kv_geometry& g)
  : geometry_(g), data_(std::make_unique<float[]>(g.total_bytes() / sizeof(float))) {
}

} // namespace dynamo::reference
