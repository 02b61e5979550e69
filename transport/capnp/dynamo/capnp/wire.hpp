// Helpers for bindings that read and write Cap'n Proto data: errors on the wire, and decoding
// that turns malformed network data into invalid_request instead of an exception.
#pragma once

#include "dynamo/capnp/rpc.capnp.h"
#include "dynamo/error.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <capnp/blob.h>
#include <kj/exception.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace dynamo::capnp {

/// Writes `err` (its class, client message and operator detail) into `out`. Any thread that
/// owns the builder.
void encode_error(const caf::error& err, rpc::Error::Builder out);

/// Reads an error written by encode_error(). An unknown or zero code decodes as `internal`.
/// Never throws: malformed data yields an invalid_request error describing it.
caf::error decode_error(rpc::Error::Reader in) noexcept;

/// Classifies a kj exception from the RPC system: DISCONNECTED -> disconnected, OVERLOADED ->
/// overloaded, UNIMPLEMENTED -> invalid_request (the peer does not speak the interface),
/// anything else -> internal. `context` says what failed, for the operator detail.
caf::error error_from_exception(const kj::Exception& e, std::string_view context);

/// Views `text` as a Cap'n Proto Text of its full size (std::string's implicit conversion
/// would stop at an embedded NUL). Valid while `text` is.
inline ::capnp::Text::Reader as_text(const std::string& text) noexcept {
  return ::capnp::Text::Reader{text.data(), text.size()};
}

/// Copies a Text field; invalid_request when it exceeds `max_bytes` or contains a NUL byte
/// (`field` names it).
caf::expected<std::string> read_text(::capnp::Text::Reader text, size_t max_bytes,
                                     std::string_view field);

/// Runs `fn` (which reads Cap'n Proto data and returns caf::expected<T>), turning any kj
/// exception thrown by a malformed message into invalid_request naming `what`.
template <class F>
auto decode_guarded(std::string_view what, F&& fn) -> decltype(fn()) {
  try {
    return std::forward<F>(fn)();
  } catch (const kj::Exception& e) {
    return make_error(errc::invalid_request, std::string{"malformed "} + std::string{what},
                      e.getDescription().cStr());
  }
}

} // namespace dynamo::capnp
