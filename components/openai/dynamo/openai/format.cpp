#include "dynamo/openai/format.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dynamo::openai {

namespace {

using json = nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json string_or_null(std::string_view text) {
  return text.empty() ? json(nullptr) : json(std::string{text});
}

json usage_json(const usage& counts) {
  return json{
    {"prompt_tokens", counts.prompt_tokens},
    {"completion_tokens", counts.completion_tokens},
    {"total_tokens", uint64_t{counts.prompt_tokens} + counts.completion_tokens},
    {"prompt_tokens_details", json{{"cached_tokens", counts.cached_tokens}}},
  };
}

json envelope(std::string_view object, std::string_view id, int64_t created,
              std::string_view model) {
  return json{
    {"id", std::string{id}},
    {"object", std::string{object}},
    {"created", created},
    {"model", std::string{model}},
  };
}

api_error make(int status, std::string message, std::string type, std::string code) {
  return api_error{status, std::move(message), std::move(type), {}, std::move(code)};
}

} // namespace

std::string format_error(const api_error& err) {
  json body{{"error", json{
                        {"message", err.message},
                        {"type", err.type},
                        {"param", string_or_null(err.param)},
                        {"code", string_or_null(err.code)},
                      }}};
  return dump(body);
}

api_error error_from(const caf::error& err) {
  if (!err)  // client_message must not see an empty error (CAF 0.17 has no category for it)
    return make(500, "internal error", "internal_error", "");
  auto message = client_message(err);
  auto or_default = [&message](std::string_view fallback) {
    return message.empty() ? std::string{fallback} : std::move(message);
  };
  switch (classify(err)) {
    case errc::invalid_request:
      return make(400, or_default("invalid request"), "invalid_request_error", "");
    case errc::not_found:
      return make(404, or_default("the model does not exist"), "invalid_request_error",
                  "model_not_found");
    case errc::unavailable:
      return make(503, or_default("no backend can serve this request right now"),
                  "service_unavailable", "");
    case errc::overloaded:
      return make(503, or_default("the service is overloaded; retry later"),
                  "service_unavailable", "overloaded");
    case errc::disconnected:
      return make(502, or_default("a backend disconnected while serving the request"),
                  "service_unavailable", "backend_disconnected");
    case errc::deadline_exceeded:
      return make(504, or_default("the request timed out"), "timeout_error", "timeout");
    case errc::cancelled:
      return make(499, or_default("the request was cancelled"), "cancelled", "cancelled");
    case errc::none:
    case errc::internal:
    default:
      return make(500, or_default("internal error"), "internal_error", "");
  }
}

std::string format_response(api_kind kind, std::string_view id, int64_t created,
                            std::string_view model, std::string_view text,
                            std::string_view finish_reason, const usage& counts) {
  json choice{{"index", 0}};
  if (kind == api_kind::chat) {
    choice["message"] = json{{"role", "assistant"}, {"content", std::string{text}}};
  } else {
    choice["text"] = std::string{text};
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = string_or_null(finish_reason);
  auto body = envelope(kind == api_kind::chat ? "chat.completion" : "text_completion", id,
                       created, model);
  body["choices"] = json::array({std::move(choice)});
  body["usage"] = usage_json(counts);
  return dump(body);
}

std::string format_chunk(api_kind kind, std::string_view id, int64_t created,
                         std::string_view model, std::string_view delta_text,
                         const std::optional<std::string>& finish_reason, bool first) {
  json choice{{"index", 0}};
  if (kind == api_kind::chat) {
    auto delta = json::object();
    if (first)
      delta["role"] = "assistant";
    if (first || !delta_text.empty())
      delta["content"] = std::string{delta_text};
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = std::string{delta_text};
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason ? json(*finish_reason) : json(nullptr);
  auto body = envelope(kind == api_kind::chat ? "chat.completion.chunk" : "text_completion", id,
                       created, model);
  body["choices"] = json::array({std::move(choice)});
  return dump(body);
}

std::string format_usage_chunk(api_kind kind, std::string_view id, int64_t created,
                               std::string_view model, const usage& counts) {
  auto body = envelope(kind == api_kind::chat ? "chat.completion.chunk" : "text_completion", id,
                       created, model);
  body["choices"] = json::array();
  body["usage"] = usage_json(counts);
  return dump(body);
}

std::string format_models(std::span<const model_card> models) {
  auto data = json::array();
  for (const auto& card : models)
    data.push_back(json{
      {"id", card.id},
      {"object", "model"},
      {"created", card.created},
      {"owned_by", card.owned_by},
    });
  return dump(json{{"object", "list"}, {"data", std::move(data)}});
}

std::string sse_event(std::string_view json_text) {
  // SSE ends a line at CR, LF or CRLF: give every line of the payload its own field.
  std::string out;
  out.reserve(json_text.size() + 8);
  size_t start = 0;
  while (true) {
    auto end = json_text.find_first_of("\r\n", start);
    out += "data: ";
    out += json_text.substr(start, end == std::string_view::npos ? end : end - start);
    out += '\n';
    if (end == std::string_view::npos)
      break;
    start = end + 1;
    if (json_text[end] == '\r' && start < json_text.size() && json_text[start] == '\n')
      ++start;
  }
  out += '\n';
  return out;
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

std::string make_response_id(api_kind kind, uint64_t n) {
  return fmt::format("{}-{:016x}", kind == api_kind::chat ? "chatcmpl" : "cmpl", n);
}

} // namespace dynamo::openai
