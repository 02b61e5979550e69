// The Cap'n Proto binding of prefill_actor (schema: prefill.capnp): register it for the
// "prefill" endpoint in dynamo::capnp::request_options::bindings.
#pragma once

#include "dynamo/actors/disagg_messages.hpp"
#include "dynamo/actors/wire/generate_codec.hpp"
#include "dynamo/actors/wire/prefill.capnp.h"
#include "dynamo/capnp/binding.hpp"

#include <caf/expected.hpp>

#include <memory>

namespace dynamo::actors::wire {

/// Interface name (and version) of the prefill binding.
inline constexpr const char* prefill_interface_name = "dynamo.prefill/1";

/// Writes `x` into `out`. Any thread owning the builder.
void encode(const remote_prefill_request& x, schema::RemotePrefillRequest::Builder out);
/// Writes `x` into `out`. Any thread owning the builder.
void encode(const remote_prefill_result& x, schema::RemotePrefillResult::Builder out);

/// Reads a remote prefill request: as decode(GenerateRequest) for the request, plus
/// invalid_request for an oversized block table or component name, or malformed data.
caf::expected<remote_prefill_request> decode(schema::RemotePrefillRequest::Reader in,
                                             const wire_limits& limits = {});
/// Reads a remote prefill result: invalid_request for malformed data.
caf::expected<remote_prefill_result> decode(schema::RemotePrefillResult::Reader in);

/// The binding for prefill_actor: prefill(request) -> result or the handler's error (class,
/// message and detail intact), carrying the request's deadline; cancel(id, kind); a caller's
/// cancellation or disconnect reaches the handler as cancel(kill). Any thread; each call makes
/// a new immutable instance.
std::shared_ptr<const dynamo::capnp::interface_binding> prefill_binding();

} // namespace dynamo::actors::wire
