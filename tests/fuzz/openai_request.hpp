// Shared by the OpenAI request fuzz targets: parse a body as an HTTP client sent it and check
// the contract of dynamo::openai::parse_request (docs/design/openai-protocol.md).
#pragma once

#include "dynamo/fuzz/check.hpp"
#include "dynamo/openai/parse.hpp"

#include <string_view>
#include <variant>

namespace dynamo::fuzz {

/// Parses `body` for `kind` with default limits and checks the documented invariants of the
/// result: a 400 invalid_request_error with a message, or a request within the limits.
inline void check_openai_request(std::string_view body, openai::api_kind kind) {
  const openai::parse_limits limits;
  auto result = openai::parse_request(body, kind, limits);
  if (const auto* err = std::get_if<openai::api_error>(&result)) {
    DYNAMO_FUZZ_CHECK(err->status == 400, "parse errors are 400");
    DYNAMO_FUZZ_CHECK(err->type == "invalid_request_error", "parse errors are invalid_request_error");
    DYNAMO_FUZZ_CHECK(!err->message.empty(), "parse errors carry a message");
    return;
  }
  const auto& req = std::get<openai::request>(result);
  DYNAMO_FUZZ_CHECK(req.kind == kind, "the request keeps its endpoint kind");
  DYNAMO_FUZZ_CHECK(!req.model.empty(), "model is non-empty");
  DYNAMO_FUZZ_CHECK(req.max_tokens >= 1 && req.max_tokens <= limits.max_tokens_limit,
                    "max_tokens within [1, limit]");
  DYNAMO_FUZZ_CHECK(req.stop.size() <= limits.max_stop_sequences, "at most 4 stop strings");
  for (const auto& stop : req.stop)
    DYNAMO_FUZZ_CHECK(!stop.empty(), "stop strings are non-empty");
  if (req.temperature)
    DYNAMO_FUZZ_CHECK(*req.temperature >= 0.0f && *req.temperature <= 2.0f,
                      "temperature within [0, 2]");
  if (req.top_p)
    DYNAMO_FUZZ_CHECK(*req.top_p > 0.0f && *req.top_p <= 1.0f, "top_p within (0, 1]");
  if (req.top_k)
    DYNAMO_FUZZ_CHECK(*req.top_k >= 0, "top_k >= 0");
  DYNAMO_FUZZ_CHECK(!req.include_usage || req.stream, "include_usage only with stream");
  if (kind == openai::api_kind::chat) {
    DYNAMO_FUZZ_CHECK(!req.messages.empty() && req.messages.size() <= limits.max_messages,
                      "chat has 1..max_messages messages");
    for (const auto& m : req.messages)
      DYNAMO_FUZZ_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant"
                          || m.role == "tool" || m.role == "developer",
                        "chat roles are the documented ones");
    DYNAMO_FUZZ_CHECK(req.prompt.empty(), "chat requests carry no prompt");
  } else {
    DYNAMO_FUZZ_CHECK(req.messages.empty(), "completions carry no messages");
  }
}

} // namespace dynamo::fuzz
