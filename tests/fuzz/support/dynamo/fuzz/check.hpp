// Invariant checks inside fuzz targets: a failed check prints what broke and aborts, which both
// libFuzzer and our smoke driver report as a crash with the input saved for a repro.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace dynamo::fuzz {

/// Prints "fuzz invariant violated at file:line: what" to stderr and aborts. Any thread.
[[noreturn]] inline void invariant_failed(const char* file, int line, std::string_view what) {
  std::fprintf(stderr, "fuzz invariant violated at %s:%d: %.*s\n", file, line,
               static_cast<int>(what.size()), what.data());
  std::abort();
}

/// Views fuzzer bytes as text without copying. Any thread.
inline std::string_view as_text(const uint8_t* data, size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

} // namespace dynamo::fuzz

/// Aborts with `what` when `cond` is false (in every build type).
#define DYNAMO_FUZZ_CHECK(cond, what)                                                             \
  do {                                                                                            \
    if (!(cond))                                                                                  \
      ::dynamo::fuzz::invariant_failed(__FILE__, __LINE__, what);                                 \
  } while (false)
