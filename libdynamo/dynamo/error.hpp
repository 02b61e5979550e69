// The error vocabulary of libdynamo: a handful of classes that tell the caller what to do.
// A failure is classified once, by the layer closest to its cause; backend detail goes into the
// operator detail, never into new enum values.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo {

/// Error classes. Values are stable: they travel on the wire in later transports.
enum class errc : uint8_t {
  none = 0,
  invalid_request = 1,    ///< The caller sent something wrong: fix the request, do not retry.
  not_found = 2,          ///< The named thing (model, endpoint, instance) does not exist.
  unavailable = 3,        ///< Nobody can serve this right now: retry later or elsewhere.
  overloaded = 4,         ///< Capacity exhausted: back off, then retry.
  disconnected = 5,       ///< The peer went away mid-request: the request may be retried.
  cancelled = 6,          ///< The request was cancelled by its owner.
  deadline_exceeded = 7,  ///< The request's deadline passed before it completed.
  internal = 8,           ///< A bug or broken invariant on our side.
};

/// CAF error category atom for dynamo errors.
constexpr caf::atom_value error_category = caf::atom("dynamo");

/// Stable lower-case name of an error class ("invalid_request", ...).
std::string_view to_string(errc x) noexcept;

/// Parses the result of to_string(errc); returns errc::internal for unknown names.
errc errc_from_string(std::string_view name) noexcept;

/// Builds an error. `client_message` is safe to show to API clients; `detail` is for operators
/// (logs) and never leaves the process boundary towards clients.
caf::error make_error(errc code, std::string client_message, std::string detail = {});

/// Classifies any CAF error into our vocabulary (CAF system errors such as request timeouts or
/// a dead receiver map to deadline_exceeded / disconnected). A default-constructed error maps to
/// errc::none.
errc classify(const caf::error& err) noexcept;

/// The client-safe message of an error made by make_error; a generic text for other errors.
std::string client_message(const caf::error& err);

/// The operator detail of an error (falls back to CAF's rendering for foreign errors).
std::string operator_detail(const caf::error& err);

/// One-line rendering for logs: "class: client message (detail)".
std::string describe(const caf::error& err);

/// Logs `what` through spdlog as critical and aborts. For broken invariants only.
[[noreturn]] void on_internal_error(std::string_view what);

} // namespace dynamo
