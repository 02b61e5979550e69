// SIGINT/SIGTERM as a synchronous event: blocked in every thread, awaited in main.
#pragma once

#include <chrono>
#include <csignal>

namespace dynamo::launch {

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards, so
/// that only wait_signal() observes them. Call first thing in main's thread. Returns the set.
sigset_t block_termination_signals();

/// Waits up to `timeout` for a signal of `set`; returns its number, or 0 when none came.
/// Thread that blocked them (main).
int wait_signal(const sigset_t& set, std::chrono::milliseconds timeout);

} // namespace dynamo::launch
