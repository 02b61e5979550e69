// SplitMix64, the counter-based mixing every engine uses to derive token streams and sampling
// draws from a seed and a position (so results never depend on batching or step timing).
#pragma once

#include <cstdint>

namespace dynamo::engine {

/// SplitMix64's increment (the golden ratio in 64 bits).
inline constexpr uint64_t golden_gamma = 0x9e3779b97f4a7c15ull;

/// SplitMix64's finalizer: a bijective 64-bit mix with good avalanche. Any thread.
constexpr uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

} // namespace dynamo::engine
