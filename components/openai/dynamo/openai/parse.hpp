// Parsing and validation of OpenAI completion and chat-completion request bodies.
#pragma once

#include "dynamo/openai/types.hpp"

#include <string_view>
#include <variant>

namespace dynamo::openai {

/// Parses and validates a request body for the endpoint `kind`. Returns the request, or a 400
/// api_error of type "invalid_request_error" whose `param` names the offending field (code
/// "invalid_json" for a body that is not JSON). Unknown fields are ignored. Never throws for
/// any input; any thread.
std::variant<request, api_error> parse_request(std::string_view body, api_kind kind,
                                               const parse_limits& limits);

} // namespace dynamo::openai
