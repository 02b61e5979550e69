// A streaming OpenAI completions client for the process-level integration tests: one request
// over a fresh connection, its outcome (status, completion, error type, text).
#pragma once

#include "dynamo/testing/http_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace dynamo::testing {

/// What one HTTP completion ended with.
struct outcome {
  int status = 0;           ///< HTTP status (0: no response at all).
  bool completed = false;   ///< Streamed to [DONE] with a finish reason, or a 200 JSON body.
  std::string error_type;   ///< OpenAI error type when it failed cleanly.
  std::string text;         ///< Generated text.
};

/// A distinct prompt of `n` bytes (so that every request stores fresh KV blocks).
inline std::string prompt_for(int i, size_t n = 96) {
  std::string p = "request " + std::to_string(i) + ": ";
  while (p.size() < n)
    p += static_cast<char>('a' + (p.size() * 7 + static_cast<size_t>(i)) % 26);
  return p;
}

/// One streamed completion; `on_first_token` runs once the first content chunk arrived.
inline outcome stream_completion(uint16_t port, const std::string& prompt, int max_tokens,
                                 const std::function<void()>& on_first_token = {}) {
  using json = nlohmann::json;
  using namespace std::chrono_literals;
  outcome out;
  auto c = http_client::connect("127.0.0.1", port, 2s);
  if (!c)
    return out;
  c->set_timeout(20s);
  json body{{"model", "mock-model"}, {"prompt", prompt}, {"max_tokens", max_tokens},
            {"stream", true}};
  if (c->send_request("POST", "/v1/completions", body.dump(),
                      {{"Content-Type", "application/json"}}))
    return out;
  auto head = c->read_head();
  if (!head)
    return out;
  out.status = head->status;
  if (head->status != 200) {
    auto rest = c->read_body();
    if (rest) {
      auto j = json::parse(*rest, nullptr, false);
      if (j.is_object() && j.contains("error"))
        out.error_type = j["error"].value("type", "");
    }
    return out;
  }
  bool first = true;
  std::string pending;
  while (true) {
    auto chunk = c->read_some();
    if (!chunk || chunk->empty())
      break;
    pending += *chunk;
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      auto event = pending.substr(0, end + 2);
      pending.erase(0, end + 2);
      for (const auto& data : parse_sse_data(event)) {
        if (data == "[DONE]")
          continue;
        auto j = json::parse(data, nullptr, false);
        if (!j.is_object())
          continue;
        if (j.contains("error")) {
          out.error_type = j["error"].value("type", "unknown");
          continue;
        }
        if (!j.contains("choices") || j["choices"].empty())
          continue;
        const auto& choice = j["choices"][0];
        out.text += choice.value("text", "");
        if (first && on_first_token) {
          first = false;
          on_first_token();
        }
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
          out.completed = true;
      }
    }
  }
  if (!out.error_type.empty())
    out.completed = false;
  return out;
}

} // namespace dynamo::testing
