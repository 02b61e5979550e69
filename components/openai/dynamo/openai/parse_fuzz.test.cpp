// Robustness of parse_request: random bytes and random mutations of valid bodies must always
// produce either a request that satisfies the documented invariants or a well-formed 400.
#include "dynamo/openai/parse.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <string>
#include <variant>

namespace dynamo::openai {
namespace {

using json = nlohmann::json;

constexpr uint32_t seed = 20240601;

/// Checks the outcome of one parse against the contract of parse_request; true if accepted.
bool check_outcome(const std::variant<request, api_error>& result, api_kind kind,
                   const parse_limits& limits, const std::string& body) {
  if (const auto* err = std::get_if<api_error>(&result)) {
    EXPECT_EQ(err->status, 400) << body;
    EXPECT_EQ(err->type, "invalid_request_error") << body;
    EXPECT_FALSE(err->message.empty()) << body;
    return false;
  }
  const auto& req = std::get<request>(result);
  EXPECT_EQ(req.kind, kind);
  EXPECT_FALSE(req.model.empty()) << body;
  EXPECT_GE(req.max_tokens, 1u) << body;
  EXPECT_LE(req.max_tokens, limits.max_tokens_limit) << body;
  EXPECT_LE(req.stop.size(), limits.max_stop_sequences) << body;
  for (const auto& stop : req.stop)
    EXPECT_FALSE(stop.empty()) << body;
  if (req.temperature) {
    EXPECT_GE(*req.temperature, 0.0f) << body;
    EXPECT_LE(*req.temperature, 2.0f) << body;
  }
  if (req.top_p) {
    EXPECT_GT(*req.top_p, 0.0f) << body;
    EXPECT_LE(*req.top_p, 1.0f) << body;
  }
  if (req.top_k) {
    EXPECT_GE(*req.top_k, 0) << body;
  }
  if (req.include_usage) {
    EXPECT_TRUE(req.stream) << body;
  }
  if (kind == api_kind::chat) {
    EXPECT_FALSE(req.messages.empty()) << body;
    EXPECT_LE(req.messages.size(), limits.max_messages) << body;
    EXPECT_TRUE(req.prompt_token_ids.empty()) << body;
  } else {
    EXPECT_TRUE(req.messages.empty()) << body;
    if (!req.prompt_token_ids.empty()) {
      EXPECT_TRUE(req.prompt.empty()) << body;
    }
  }
  for (const auto& x : {req.overlap_score_weight, req.router_temperature}) {
    if (x) {
      EXPECT_TRUE(std::isfinite(*x)) << body;
      EXPECT_GE(*x, 0.0) << body;
    }
  }
  return true;
}

json random_value(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> pick{0, depth > 2 ? 7 : 9};
  switch (pick(rng)) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<int64_t>(rng()) - static_cast<int64_t>(rng());
    case 3:
      return static_cast<double>(rng() % 5000) / 1000.0 - 1.0;
    case 4:
      return uint64_t{rng()} << 32 | rng();
    case 5:
      return std::string(rng() % 4, static_cast<char>('a' + rng() % 26));
    case 6:
      return "user";
    case 7:
      return "text";
    case 8: {
      auto array = json::array();
      for (auto n = rng() % 4; n > 0; --n)
        array.push_back(random_value(rng, depth + 1));
      return array;
    }
    default: {
      auto object = json::object();
      for (auto n = rng() % 4; n > 0; --n) {
        static constexpr const char* keys[] = {"role", "content", "type", "text",
                                               "include_usage", "ignore_eos", "x"};
        object[keys[rng() % 7]] = random_value(rng, depth + 1);
      }
      return object;
    }
  }
}

json valid_body(api_kind kind) {
  json body{{"model", "m"},
            {"max_tokens", 8},
            {"temperature", 0.7},
            {"top_p", 0.9},
            {"top_k", 5},
            {"seed", 3},
            {"stop", json::array({"a", "bc"})},
            {"stream", true},
            {"stream_options", json{{"include_usage", true}}},
            {"n", 1},
            {"nvext", json{{"ignore_eos", true}}},
            {"user", "u"}};
  if (kind == api_kind::chat)
    body["messages"] = json::array(
      {json{{"role", "system"}, {"content", "s"}},
       json{{"role", "user"},
            {"content", json::array({json{{"type", "text"}, {"text", "hi"}}})}}});
  else
    body["prompt"] = "hello";
  return body;
}

/// Replaces, deletes or adds one field somewhere in `body` (top level or inside a message).
void mutate(json& body, std::mt19937& rng) {
  static constexpr const char* fields[] = {
    "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "top_k", "seed", "stop", "stream", "stream_options", "n", "nvext", "ignore_eos", "user"};
  json* target = &body;
  if (body.contains("messages") && body["messages"].is_array() && !body["messages"].empty() &&
      rng() % 3 == 0) {
    auto& messages = body["messages"];
    target = &messages[rng() % messages.size()];
    if (!target->is_object())
      return;
    const char* keys[] = {"role", "content"};
    auto key = keys[rng() % 2];
    if (rng() % 4 == 0)
      target->erase(key);
    else
      (*target)[key] = random_value(rng, 1);
    return;
  }
  auto key = fields[rng() % std::size(fields)];
  if (rng() % 4 == 0)
    target->erase(key);
  else
    (*target)[key] = random_value(rng, 0);
}

TEST(parse_request_fuzz, random_bytes_never_crash) {
  std::mt19937 rng{seed};
  parse_limits limits;
  for (int i = 0; i < 2000; ++i) {
    std::string body(rng() % 64, '\0');
    for (auto& c : body)
      c = static_cast<char>(rng() % 256);
    if (i % 2 == 0 && !body.empty())
      body.front() = '{';
    for (auto kind : {api_kind::completions, api_kind::chat})
      check_outcome(parse_request(body, kind, limits), kind, limits, body);
  }
}

TEST(parse_request_fuzz, field_mutations_never_crash) {
  std::mt19937 rng{seed + 1};
  parse_limits limits;
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    auto kind = i % 2 == 0 ? api_kind::completions : api_kind::chat;
    auto body = valid_body(kind);
    for (auto n = 1 + rng() % 3; n > 0; --n)
      mutate(body, rng);
    auto text = body.dump();
    ++(check_outcome(parse_request(text, kind, limits), kind, limits, text) ? accepted : rejected);
  }
  // Both paths must be exercised, or the mutations are not testing the validator.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 100);
}

TEST(parse_request_fuzz, byte_mutations_of_valid_bodies_never_crash) {
  std::mt19937 rng{seed + 2};
  parse_limits limits;
  int rejected = 0;
  for (int i = 0; i < 1500; ++i) {
    auto kind = i % 2 == 0 ? api_kind::completions : api_kind::chat;
    auto text = valid_body(kind).dump();
    switch (rng() % 3) {
      case 0:
        text.resize(rng() % text.size());
        break;
      case 1:
        text[rng() % text.size()] = static_cast<char>(rng() % 256);
        break;
      default:
        text.insert(rng() % text.size(), 1, "{}[],:\"\\0e-."[rng() % 13]);
        break;
    }
    if (!check_outcome(parse_request(text, kind, limits), kind, limits, text))
      ++rejected;
  }
  EXPECT_GT(rejected, 500);
}

TEST(parse_request_fuzz, token_id_prompts_and_router_overrides_never_crash) {
  std::mt19937 rng{seed + 3};
  parse_limits limits;
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    auto body = valid_body(api_kind::completions);
    auto ids = json::array({1, 2, 3, 4});
    for (auto n = rng() % 3; n > 0; --n)
      ids[rng() % ids.size()] = random_value(rng, 1);
    body["prompt"] = rng() % 4 == 0 ? json::array({ids}) : ids;
    auto overrides = json{{"overlap_score_weight", 1.0}, {"router_temperature", 0.5}};
    if (rng() % 2 == 0)
      overrides[rng() % 2 == 0 ? "overlap_score_weight" : "router_temperature"] =
        random_value(rng, 1);
    body["nvext"]["router_config_override"] = rng() % 8 == 0 ? random_value(rng, 1) : overrides;
    auto text = body.dump();
    auto result = parse_request(text, api_kind::completions, limits);
    if (check_outcome(result, api_kind::completions, limits, text)) {
      ++accepted;
      EXPECT_EQ(std::get<request>(result).prompt_token_ids.size(), 4u) << text;
    } else {
      ++rejected;
      const auto& param = std::get<api_error>(result).param;
      EXPECT_TRUE(param == "prompt" || param.starts_with("nvext.router_config_override"))
        << text << " -> " << param;
    }
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 100);
}

TEST(parse_request_fuzz, unmutated_bodies_are_accepted) {
  parse_limits limits;
  for (auto kind : {api_kind::completions, api_kind::chat}) {
    auto result = parse_request(valid_body(kind).dump(), kind, limits);
    ASSERT_TRUE(std::holds_alternative<request>(result)) << std::get<api_error>(result).message;
  }
}

TEST(parse_request_fuzz, deep_nesting_and_large_inputs_are_handled) {
  parse_limits limits;
  std::string deep = R"({"model":"m","prompt":"p","x":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  check_outcome(parse_request(deep, api_kind::completions, limits), api_kind::completions, limits,
                "deeply nested body");
  std::string unbalanced = R"({"model":"m","prompt":)" + std::string(100000, '[');
  auto result = parse_request(unbalanced, api_kind::completions, limits);
  ASSERT_TRUE(std::holds_alternative<api_error>(result));
  EXPECT_EQ(std::get<api_error>(result).code, "invalid_json");

  json many = valid_body(api_kind::chat);
  many["messages"] = json::array();
  for (int i = 0; i < 1025; ++i)
    many["messages"].push_back(json{{"role", "user"}, {"content", "x"}});
  auto too_many = parse_request(many.dump(), api_kind::chat, limits);
  ASSERT_TRUE(std::holds_alternative<api_error>(too_many));
  EXPECT_EQ(std::get<api_error>(too_many).param, "messages");
}

} // namespace
} // namespace dynamo::openai
