// Rendering of OpenAI API responses, streaming chunks, errors and server-sent events. All
// functions are pure, thread-safe and never throw on any input: text that is not valid UTF-8
// is rendered with U+FFFD in place of the ill-formed bytes.
#pragma once

#include "dynamo/openai/types.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dynamo::openai {

/// {"error":{"message","type","param","code"}}; an empty param or code renders as null.
std::string format_error(const api_error& err);

/// Maps a dynamo error to the status, type and code the API reports (see
/// docs/design/openai-protocol.md). The message is dynamo::client_message: operator detail
/// never reaches the client. A default-constructed error maps to a 500.
api_error error_from(const caf::error& err);

/// A complete non-streaming response: "text_completion" with choices[].text, or
/// "chat.completion" with choices[].message; an empty `finish_reason` renders as null.
std::string format_response(api_kind kind, std::string_view id, int64_t created,
                            std::string_view model, std::string_view text,
                            std::string_view finish_reason, const usage& counts);

/// One streaming chunk with a single choice. Chat: "chat.completion.chunk" whose delta carries
/// role "assistant" on the `first` chunk and the content when non-empty (or first).
/// Completions: "text_completion" with choices[].text. `finish_reason` nullopt renders as null.
std::string format_chunk(api_kind kind, std::string_view id, int64_t created,
                         std::string_view model, std::string_view delta_text,
                         const std::optional<std::string>& finish_reason, bool first);

/// The final usage chunk of a stream with stream_options.include_usage: no choices, usage set.
std::string format_usage_chunk(api_kind kind, std::string_view id, int64_t created,
                               std::string_view model, const usage& counts);

/// GET /v1/models: {"object":"list","data":[{"id","object":"model","created","owned_by"}]}.
std::string format_models(std::span<const model_card> models);

/// One server-sent event: "data: <json>\n\n" (each line of a multi-line payload gets its own
/// "data: " prefix, so the event cannot be split).
std::string sse_event(std::string_view json);

/// The stream terminator "data: [DONE]\n\n".
std::string sse_done();

/// "cmpl-<16 hex digits>" for completions, "chatcmpl-<16 hex digits>" for chat.
std::string make_response_id(api_kind kind, uint64_t n);

} // namespace dynamo::openai
