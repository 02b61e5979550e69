#include "dynamo/openai/parse.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::openai {

namespace {

using json = nlohmann::json;

/// A failed validation step; empty when the step succeeded.
using failure = std::optional<api_error>;

constexpr std::array<std::string_view, 5> known_roles = {"system", "user", "assistant", "tool",
                                                         "developer"};

api_error bad_request(std::string param, std::string message, std::string code) {
  return api_error{400, std::move(message), "invalid_request_error", std::move(param),
                   std::move(code)};
}

api_error missing(const std::string& param) {
  return bad_request(param, fmt::format("'{}' is required", param), "missing_required_parameter");
}

api_error wrong_type(const std::string& param, std::string_view expected) {
  return bad_request(param, fmt::format("'{}' must be {}", param, expected), "invalid_type");
}

api_error invalid_value(const std::string& param, std::string message) {
  return bad_request(param, std::move(message), "invalid_value");
}

/// The member `key` of `object`, or nullptr when it is absent or null (null means "not given").
const json* member(const json& object, const std::string& key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null())
    return nullptr;
  return &*it;
}

/// The integral value of a JSON number, saturated to the int64 range; nullopt for anything
/// that is not an integer (strings, fractions, non-finite floats).
std::optional<int64_t> integer_value(const json& value) {
  if (value.is_number_unsigned()) {
    auto x = value.get<uint64_t>();
    constexpr auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    return x > max ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(x);
  }
  if (value.is_number_integer())
    return value.get<int64_t>();
  if (value.is_number_float()) {
    auto x = value.get<double>();
    if (!std::isfinite(x) || std::trunc(x) != x)
      return std::nullopt;
    if (x >= 9.2e18)
      return std::numeric_limits<int64_t>::max();
    if (x <= -9.2e18)
      return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(x);
  }
  return std::nullopt;
}

/// A finite JSON number; nullopt for non-numbers and non-finite values.
std::optional<double> number_value(const json& value) {
  if (!value.is_number())
    return std::nullopt;
  auto x = value.get<double>();
  if (!std::isfinite(x))
    return std::nullopt;
  return x;
}

failure read_string(const json& body, const std::string& key, std::string& out) {
  const auto* value = member(body, key);
  if (!value)
    return std::nullopt;
  if (!value->is_string())
    return wrong_type(key, "a string");
  out = value->get<std::string>();
  return std::nullopt;
}

failure read_bool(const json& object, const std::string& key, const std::string& param,
                  std::optional<bool>& out) {
  const auto* value = member(object, key);
  if (!value)
    return std::nullopt;
  if (!value->is_boolean())
    return wrong_type(param, "a boolean");
  out = value->get<bool>();
  return std::nullopt;
}

failure read_model(const json& body, std::string& out) {
  const auto* value = member(body, "model");
  if (!value)
    return missing("model");
  if (!value->is_string())
    return wrong_type("model", "a string");
  out = value->get<std::string>();
  if (out.empty())
    return invalid_value("model", "'model' must not be empty");
  return std::nullopt;
}

/// Reads a non-empty array of token ids (integers in the u32 range) into `out`. `where` names the
/// array in messages ("prompt" or "prompt[0]"); errors always name the param "prompt".
failure read_token_ids(const json& array, const std::string& where, std::vector<uint32_t>& out) {
  if (array.empty())
    return invalid_value("prompt", fmt::format("'{}' must not be an empty array", where));
  out.reserve(array.size());
  size_t index = 0;
  for (const auto& item : array) {
    auto x = item.is_number() ? integer_value(item) : std::nullopt;
    if (!x || *x < 0 || static_cast<uint64_t>(*x) > std::numeric_limits<uint32_t>::max()) {
      const char* what = item.is_number() ? "a token id: an integer between 0 and 4294967295"
                                          : "a token id (mixed arrays are not supported)";
      return bad_request("prompt", fmt::format("'{}[{}]' must be {}", where, index, what),
                         item.is_number() ? "invalid_value" : "invalid_type");
    }
    out.push_back(static_cast<uint32_t>(*x));
    ++index;
  }
  return std::nullopt;
}

/// A completion prompt: a string, an array holding one string, an array of token ids, or an
/// array holding one array of token ids. Anything else (batches included) is rejected.
failure read_prompt(const json& body, std::string& text, std::vector<uint32_t>& token_ids) {
  const auto* value = member(body, "prompt");
  if (!value)
    return missing("prompt");
  if (value->is_string()) {
    text = value->get<std::string>();
    return std::nullopt;
  }
  if (!value->is_array())
    return wrong_type("prompt", "a string, an array of token ids, or an array holding one of "
                                "either");
  if (value->empty())
    return invalid_value("prompt", "'prompt' must not be an empty array");
  const auto& first = value->front();
  if (value->size() == 1 && first.is_string()) {
    text = first.get<std::string>();
    return std::nullopt;
  }
  if (value->size() == 1 && first.is_array())
    return read_token_ids(first, "prompt[0]", token_ids);
  if (first.is_number())
    return read_token_ids(*value, "prompt", token_ids);
  auto same_kind = [&first](const json& item) {
    return (item.is_string() && first.is_string()) || (item.is_array() && first.is_array());
  };
  if ((first.is_string() || first.is_array()) &&
      std::all_of(value->begin(), value->end(), same_kind))
    return invalid_value("prompt",
                         "batched prompts are not supported: 'prompt' must be a string, an array "
                         "of token ids, or an array holding exactly one of either");
  return wrong_type("prompt", "a string, an array of token ids, or an array holding one of "
                              "either (mixed arrays are not supported)");
}

bool is_known_role(std::string_view role) {
  for (auto known : known_roles)
    if (known == role)
      return true;
  return false;
}

/// Flattens a message's content (a string or an array of text parts) into `out`.
failure read_content(const json& message, const std::string& prefix, bool may_be_null,
                     std::string& out) {
  auto param = prefix + ".content";
  const auto* content = member(message, "content");
  if (!content) {
    if (may_be_null)
      return std::nullopt;
    return bad_request(param, fmt::format("'{}' is required for this role", param),
                       "missing_required_parameter");
  }
  if (content->is_string()) {
    out = content->get<std::string>();
    return std::nullopt;
  }
  if (!content->is_array())
    return wrong_type(param, "a string or an array of content parts");
  size_t index = 0;
  for (const auto& part : *content) {
    auto part_param = fmt::format("{}[{}]", param, index++);
    if (!part.is_object())
      return wrong_type(part_param, "an object");
    auto type_param = part_param + ".type";
    const auto* type = member(part, "type");
    if (!type)
      return missing(type_param);
    if (!type->is_string())
      return wrong_type(type_param, "a string");
    if (type->get_ref<const std::string&>() != "text")
      return invalid_value(
        type_param, fmt::format("'{}': only 'text' content parts are supported", type_param));
    auto text_param = part_param + ".text";
    const auto* text = member(part, "text");
    if (!text)
      return missing(text_param);
    if (!text->is_string())
      return wrong_type(text_param, "a string");
    out += text->get_ref<const std::string&>();
  }
  return std::nullopt;
}

failure read_messages(const json& body, const parse_limits& limits,
                      std::vector<chat_message>& out) {
  const auto* value = member(body, "messages");
  if (!value)
    return missing("messages");
  if (!value->is_array())
    return wrong_type("messages", "an array");
  if (value->empty())
    return invalid_value("messages", "'messages' must contain at least one message");
  if (value->size() > limits.max_messages)
    return invalid_value("messages",
                         fmt::format("'messages' holds {} messages; at most {} are supported",
                                     value->size(), limits.max_messages));
  out.reserve(value->size());
  size_t index = 0;
  for (const auto& item : *value) {
    auto prefix = fmt::format("messages[{}]", index++);
    if (!item.is_object())
      return wrong_type(prefix, "an object");
    auto role_param = prefix + ".role";
    const auto* role = member(item, "role");
    if (!role)
      return missing(role_param);
    if (!role->is_string())
      return wrong_type(role_param, "a string");
    const auto& role_name = role->get_ref<const std::string&>();
    if (!is_known_role(role_name))
      return invalid_value(role_param,
                           fmt::format("'{}' must be one of system, user, assistant, tool, "
                                       "developer",
                                       role_param));
    chat_message message{role_name, {}};
    if (auto err = read_content(item, prefix, role_name == "assistant", message.content))
      return err;
    out.push_back(std::move(message));
  }
  return std::nullopt;
}

failure read_token_limit(const json& body, const std::string& key, const parse_limits& limits,
                         std::optional<uint32_t>& out) {
  const auto* value = member(body, key);
  if (!value)
    return std::nullopt;
  auto x = integer_value(*value);
  if (!x)
    return wrong_type(key, "an integer");
  if (*x < 1)
    return invalid_value(key, fmt::format("'{}' must be at least 1", key));
  if (static_cast<uint64_t>(*x) > limits.max_tokens_limit)
    return invalid_value(key, fmt::format("'{}' must be at most {}", key, limits.max_tokens_limit));
  out = static_cast<uint32_t>(*x);
  return std::nullopt;
}

failure read_max_tokens(const json& body, const parse_limits& limits, uint32_t& out) {
  std::optional<uint32_t> max_tokens;
  std::optional<uint32_t> max_completion_tokens;
  if (auto err = read_token_limit(body, "max_tokens", limits, max_tokens))
    return err;
  if (auto err = read_token_limit(body, "max_completion_tokens", limits, max_completion_tokens))
    return err;
  if (max_completion_tokens)
    out = *max_completion_tokens;
  else if (max_tokens)
    out = *max_tokens;
  else
    out = std::max<uint32_t>(1, std::min(limits.default_max_tokens, limits.max_tokens_limit));
  return std::nullopt;
}

failure read_sampling(const json& body, request& out) {
  if (const auto* value = member(body, "temperature")) {
    auto x = number_value(*value);
    if (!x)
      return wrong_type("temperature", "a number");
    if (*x < 0.0 || *x > 2.0)
      return invalid_value("temperature", "'temperature' must be between 0 and 2");
    out.temperature = static_cast<float>(*x);
  }
  if (const auto* value = member(body, "top_p")) {
    auto x = number_value(*value);
    if (!x)
      return wrong_type("top_p", "a number");
    if (*x <= 0.0 || *x > 1.0)
      return invalid_value("top_p", "'top_p' must be greater than 0 and at most 1");
    out.top_p = static_cast<float>(*x);
  }
  if (const auto* value = member(body, "top_k")) {
    auto x = integer_value(*value);
    if (!x)
      return wrong_type("top_k", "an integer");
    if (*x < 0 || *x > std::numeric_limits<int32_t>::max())
      return invalid_value("top_k",
                           "'top_k' must be between 0 and 2147483647 (0 disables top-k)");
    out.top_k = static_cast<int32_t>(*x);
  }
  if (const auto* value = member(body, "seed")) {
    if (value->is_number_unsigned()) {
      out.seed = value->get<uint64_t>();
    } else if (value->is_number_integer()) {
      out.seed = static_cast<uint64_t>(value->get<int64_t>());
    } else if (auto x = number_value(*value); x && std::trunc(*x) == *x && *x >= -0x1p63 &&
                                              *x < 0x1p64) {
      out.seed = *x < 0 ? static_cast<uint64_t>(static_cast<int64_t>(*x))
                        : static_cast<uint64_t>(*x);
    } else {
      return wrong_type("seed", "a 64-bit integer");
    }
  }
  return std::nullopt;
}

failure read_stop(const json& body, const parse_limits& limits, std::vector<std::string>& out) {
  const auto* value = member(body, "stop");
  if (!value)
    return std::nullopt;
  if (value->is_string()) {
    if (value->get_ref<const std::string&>().empty())
      return invalid_value("stop", "'stop' must not be an empty string");
    out.push_back(value->get<std::string>());
    return std::nullopt;
  }
  if (!value->is_array())
    return wrong_type("stop", "a string or an array of strings");
  if (value->size() > limits.max_stop_sequences)
    return invalid_value("stop", fmt::format("'stop' may hold at most {} sequences",
                                             limits.max_stop_sequences));
  size_t index = 0;
  for (const auto& item : *value) {
    auto param = fmt::format("stop[{}]", index++);
    if (!item.is_string())
      return bad_request("stop", fmt::format("'{}' must be a string", param), "invalid_type");
    if (item.get_ref<const std::string&>().empty())
      return invalid_value("stop", fmt::format("'{}' must not be an empty string", param));
    out.push_back(item.get<std::string>());
  }
  return std::nullopt;
}

failure read_n(const json& body) {
  const auto* value = member(body, "n");
  if (!value)
    return std::nullopt;
  auto x = integer_value(*value);
  if (!x)
    return wrong_type("n", "an integer");
  if (*x != 1)
    return invalid_value("n", "only n=1 is supported");
  return std::nullopt;
}

failure read_streaming(const json& body, request& out) {
  std::optional<bool> stream;
  if (auto err = read_bool(body, "stream", "stream", stream))
    return err;
  out.stream = stream.value_or(false);
  const auto* options = member(body, "stream_options");
  if (!options)
    return std::nullopt;
  if (!options->is_object())
    return wrong_type("stream_options", "an object");
  if (!out.stream)
    return invalid_value("stream_options",
                         "'stream_options' is only allowed when 'stream' is true");
  std::optional<bool> include_usage;
  if (auto err = read_bool(*options, "include_usage", "stream_options.include_usage",
                           include_usage))
    return err;
  out.include_usage = include_usage.value_or(false);
  return std::nullopt;
}

/// An optional finite, non-negative number at `object[key]`; `param` names it in errors.
failure read_non_negative(const json& object, const std::string& key, const std::string& param,
                          std::optional<double>& out) {
  const auto* value = member(object, key);
  if (!value)
    return std::nullopt;
  if (!value->is_number())
    return wrong_type(param, "a number");
  auto x = number_value(*value);
  if (!x || *x < 0.0)
    return invalid_value(param, fmt::format("'{}' must be a finite number >= 0", param));
  out = *x;
  return std::nullopt;
}

/// nvext.router_config_override: per-request overrides of the KV router's weights.
failure read_router_override(const json& nvext, request& out) {
  const auto* value = member(nvext, "router_config_override");
  if (!value)
    return std::nullopt;
  const std::string param = "nvext.router_config_override";
  if (!value->is_object())
    return wrong_type(param, "an object");
  if (auto err = read_non_negative(*value, "overlap_score_weight",
                                   param + ".overlap_score_weight", out.overlap_score_weight))
    return err;
  return read_non_negative(*value, "router_temperature", param + ".router_temperature",
                           out.router_temperature);
}

failure read_extensions(const json& body, request& out) {
  std::optional<bool> top_level;
  if (auto err = read_bool(body, "ignore_eos", "ignore_eos", top_level))
    return err;
  std::optional<bool> nested;
  if (const auto* nvext = member(body, "nvext")) {
    if (!nvext->is_object())
      return wrong_type("nvext", "an object");
    if (auto err = read_bool(*nvext, "ignore_eos", "nvext.ignore_eos", nested))
      return err;
    if (auto err = read_router_override(*nvext, out))
      return err;
  }
  out.ignore_eos = top_level.value_or(false) || nested.value_or(false);
  return std::nullopt;
}

failure read_request(const json& body, api_kind kind, const parse_limits& limits, request& out) {
  out.kind = kind;
  if (auto err = read_model(body, out.model))
    return err;
  if (kind == api_kind::completions) {
    if (auto err = read_prompt(body, out.prompt, out.prompt_token_ids))
      return err;
  } else if (auto err = read_messages(body, limits, out.messages)) {
    return err;
  }
  if (auto err = read_max_tokens(body, limits, out.max_tokens))
    return err;
  if (auto err = read_sampling(body, out))
    return err;
  if (auto err = read_stop(body, limits, out.stop))
    return err;
  if (auto err = read_n(body))
    return err;
  if (auto err = read_streaming(body, out))
    return err;
  if (auto err = read_extensions(body, out))
    return err;
  return read_string(body, "user", out.user);
}

} // namespace

std::variant<request, api_error> parse_request(std::string_view body, api_kind kind,
                                               const parse_limits& limits) {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded())
    return bad_request({}, "the request body is not valid JSON", "invalid_json");
  if (!doc.is_object())
    return bad_request({}, "the request body must be a JSON object", "invalid_type");
  try {
    request result;
    if (auto err = read_request(doc, kind, limits, result))
      return std::move(*err);
    return result;
  } catch (const json::exception& e) {
    // Unreachable when every access above is type-checked; kept so that a gap in the checks
    // degrades to a 400 instead of an exception escaping into the HTTP layer.
    return bad_request({}, fmt::format("the request body could not be processed: {}", e.what()),
                       "invalid_value");
  }
}

} // namespace dynamo::openai
