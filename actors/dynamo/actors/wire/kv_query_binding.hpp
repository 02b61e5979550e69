// The Cap'n Proto binding of kv_query_actor (schema: kv_query.capnp): register it for the "kv"
// endpoint in dynamo::capnp::request_options::bindings.
#pragma once

#include "dynamo/capnp/binding.hpp"

#include <memory>

namespace dynamo::actors::wire {

/// Interface name (and version) of the kv query binding.
inline constexpr const char* kv_query_interface_name = "dynamo.kv_query/1";

/// The binding for kv_query_actor: query(after_event_id, force_dump) -> kv_replay or the
/// handler's error (class, message and detail intact); the batch travels as opaque bytes. Any
/// thread; each call makes a new immutable instance.
std::shared_ptr<const dynamo::capnp::interface_binding> kv_query_binding();

} // namespace dynamo::actors::wire
