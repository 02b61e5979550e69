// Value types of the OpenAI-compatible HTTP API: parsed requests, errors, usage, model cards.
// Plain data, free of any JSON library, so that actors can hold and copy them cheaply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::openai {

/// Which endpoint a request came through: /v1/completions or /v1/chat/completions.
enum class api_kind : uint8_t { completions, chat };

/// "completions" or "chat".
std::string_view to_string(api_kind kind) noexcept;

/// One chat turn, already flattened to text. `role` is system, user, assistant, tool or
/// developer.
struct chat_message {
  std::string role;     ///< system, user, assistant, tool or developer.
  std::string content;  ///< Text parts concatenated; "" for an assistant turn without content.
};

/// A validated generation request. For completions either `prompt` (text) or
/// `prompt_token_ids` (a token-id prompt, then `prompt` is empty) is set and `messages` is
/// empty; for chat `messages` is non-empty and both prompts are empty.
struct request {
  api_kind kind = api_kind::completions;  ///< The endpoint the request came through.
  std::string model;                      ///< Non-empty; resolved by the caller.
  std::string prompt;                     ///< Completions only.
  /// Completions only: the prompt given as token ids (non-empty when set); taken verbatim.
  std::vector<uint32_t> prompt_token_ids;
  std::vector<chat_message> messages;     ///< Chat only; at most parse_limits::max_messages.
  uint32_t max_tokens = 16;               ///< In [1, parse_limits::max_tokens_limit].
  std::optional<float> temperature;       ///< In [0, 2].
  std::optional<float> top_p;             ///< In (0, 1].
  std::optional<int32_t> top_k;           ///< >= 0; 0 disables.
  std::optional<uint64_t> seed;           ///< Negative JSON seeds keep their two's complement bits.
  std::vector<std::string> stop;          ///< Non-empty stop strings, at most max_stop_sequences.
  bool stream = false;                    ///< Answer with server-sent events.
  bool include_usage = false;             ///< stream_options.include_usage (only with stream).
  bool ignore_eos = false;                ///< nvext.ignore_eos or top-level ignore_eos.
  std::string user;                       ///< Opaque end-user id, for logs only.
  /// nvext.router_config_override.overlap_score_weight: finite, >= 0.
  std::optional<double> overlap_score_weight;
  /// nvext.router_config_override.router_temperature: finite, >= 0.
  std::optional<double> router_temperature;
};

/// An error as the API reports it: HTTP status plus the OpenAI error object.
struct api_error {
  int status = 500;     ///< HTTP status code.
  std::string message;  ///< Client-safe text.
  std::string type;     ///< e.g. "invalid_request_error".
  std::string param;    ///< The offending request field; empty renders as null.
  std::string code;     ///< Machine-readable detail; empty renders as null.
};

/// Bounds applied while parsing requests.
struct parse_limits {
  uint32_t default_max_tokens = 16;   ///< Used when the request gives none (capped at the limit).
  uint32_t max_tokens_limit = 32768;  ///< Largest accepted max_tokens (must be >= 1).
  size_t max_stop_sequences = 4;      ///< Most entries accepted in "stop".
  size_t max_messages = 1024;         ///< Most chat messages accepted.
};

/// Token accounting reported in responses.
struct usage {
  uint32_t prompt_tokens = 0;      ///< Tokens of the rendered prompt.
  uint32_t completion_tokens = 0;  ///< Tokens generated.
  uint32_t cached_tokens = 0;      ///< Prompt tokens served from the prefix cache.
};

/// One entry of GET /v1/models.
struct model_card {
  std::string id;        ///< The model name clients send as "model".
  std::string owned_by;  ///< Organisation shown to clients.
  int64_t created = 0;   ///< Unix seconds.
};

} // namespace dynamo::openai
