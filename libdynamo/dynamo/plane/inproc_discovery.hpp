// In-process discovery backend: a lease table and one reaper/notifier thread that expires
// leases (a condition variable waits for the next expiry) and delivers all watch callbacks.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/plane/discovery.hpp"

#include <memory>

namespace dynamo {

/// Makes an in-process discovery plane. Watch callbacks and expiries run on its single backend
/// thread, so a slow callback delays expiry detection for everyone. `log` defaults to
/// default_logger("discovery"). Any thread.
std::unique_ptr<discovery_plane> make_inproc_discovery(logger_ptr log = {});

} // namespace dynamo
