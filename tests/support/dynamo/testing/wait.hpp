// Bounded waiting for tests: every wait has a timeout whose message says what was expected.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace dynamo::testing {

/// Polls `pred` every `poll` until it holds or `timeout` passes; returns whether it held.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds{5});

/// Asks the OS for a free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
uint16_t free_port();

} // namespace dynamo::testing

/// EXPECT-style helper: fails the current test with `what` if `pred` does not hold in time.
#define DYNAMO_EXPECT_EVENTUALLY(pred, timeout, what)                                       \
  EXPECT_TRUE(::dynamo::testing::wait_until([&] { return static_cast<bool>(pred); }, timeout)) \
    << "timed out after " << (timeout).count() << " ms waiting for: " << what
