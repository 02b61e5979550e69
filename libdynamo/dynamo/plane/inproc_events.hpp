// In-process event backend: every subscription owns a bounded queue and a delivery thread, so a
// slow subscriber only delays (and drops) its own messages.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/plane/event.hpp"

#include <memory>

namespace dynamo {

/// Makes an in-process event plane. publish() enqueues a copy for each matching subscription
/// and returns; each subscription's callback runs on that subscription's own thread. A full
/// queue drops the new message (counted in stats().dropped, warned about at most once per
/// second per subscription through `log`, default_logger("events") if null). Any thread.
std::unique_ptr<event_plane> make_inproc_events(logger_ptr log = {});

} // namespace dynamo
