// The Cap'n Proto binding of generate_actor (schema: generate.capnp): register it for the
// "generate" endpoint in dynamo::capnp::request_options::bindings.
#pragma once

#include "dynamo/capnp/binding.hpp"

#include <memory>

namespace dynamo::actors::wire {

/// Interface name (and version) of the generate binding.
inline constexpr const char* generate_interface_name = "dynamo.generate/1";

/// The binding for generate_actor: generate(request, sink) -> summary with a flow-controlled
/// token stream (pending chunks merge under backpressure), and cancel(id, kind). Any thread;
/// each call makes a new immutable instance.
std::shared_ptr<const dynamo::capnp::interface_binding> generate_binding();

} // namespace dynamo::actors::wire
