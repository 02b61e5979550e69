// In-process request backend: a map from address to actor. connect() returns the served actor
// itself, so calls cost one mailbox hop and no serialization.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/plane/request.hpp"

#include <caf/actor_system.hpp>

#include <memory>

namespace dynamo {

/// Makes an in-process request plane for actors of `sys` (which must outlive it). The plane
/// holds a strong handle to each served actor until it is withdrawn, terminates, or the plane
/// is destroyed. A served actor is withdrawn automatically when it terminates (an attached
/// cleanup runs in the terminating actor's context). `log` defaults to
/// default_logger("requests"). Any thread.
std::unique_ptr<request_plane> make_inproc_requests(caf::actor_system& sys, logger_ptr log = {});

} // namespace dynamo
