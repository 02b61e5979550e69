// What UCX selected, rendered for the logs: the transports of a context and the lanes of an
// endpoint.
#pragma once

#include <ucp/api/ucp.h>

#include <string>

namespace dynamo::ucx::internal {

/// The transports ("tl/device", e.g. "sysv/memory, tcp/lo") of `context`'s resources.
/// Thread of the context's owner.
std::string transports_of(ucp_context_h context);

/// The lanes of `ep` ("sysv/memory.0 (am am_bw#0), posix/memory.0"). Progress thread of its
/// worker.
std::string lanes_of(ucp_ep_h ep);

} // namespace dynamo::ucx::internal
