#include "dynamo/jinja/hf_chat_template.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <fmt/format.h>

#include <array>

namespace dynamo::jinja {

namespace {

constexpr std::array<std::string_view, 7> special_token_keys = {
  "bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"};

caf::expected<std::string> select_template(const json& entry) {
  if (entry.is_string())
    return entry.get<std::string>();
  if (!entry.is_array())
    return make_error(errc::invalid_request,
                      "chat_template in tokenizer_config.json must be a string or a list of "
                      "{name, template}");
  std::string names;
  for (const auto& item : entry) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string()
        || !item.contains("template") || !item["template"].is_string())
      return make_error(errc::invalid_request,
                        "chat_template list entries must be {\"name\": ..., \"template\": ...}");
    const auto& name = item["name"].get_ref<const std::string&>();
    if (name == "default")
      return item["template"].get<std::string>();
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", name);
  }
  return make_error(errc::invalid_request,
                    fmt::format("no 'default' chat_template in tokenizer_config.json (found: {})",
                                names.empty() ? "none" : names));
}

} // namespace

hf_chat_template::hf_chat_template(compiled_template tmpl, json special_tokens,
                                   render_options options)
  : template_(std::move(tmpl)), special_tokens_(std::move(special_tokens)),
    options_(std::move(options)) {
  if (!special_tokens_.is_object())
    special_tokens_ = json::object();
}

caf::expected<std::string>
hf_chat_template::render(std::span<const tokenizer::chat_message> messages,
                         bool add_generation_prompt) const {
  json list = json::array();
  for (const auto& m : messages)
    list.push_back(json{{"role", m.role}, {"content", m.content}});
  json context = json::object();
  context["messages"] = std::move(list);
  context["add_generation_prompt"] = add_generation_prompt;
  return render_context(std::move(context));
}

caf::expected<std::string> hf_chat_template::render_context(json context) const {
  if (!context.is_object())
    return make_error(errc::invalid_request, "chat template context must be a JSON object");
  for (const auto& [key, token] : special_tokens_.items())
    if (!context.contains(key))
      context[key] = token;
  return template_.render(std::make_shared<const json>(std::move(context)), options_);
}

caf::expected<compiled_template> compile_hf_template(std::string_view source) {
  if (!tokenizer::is_valid_utf8(source))
    return make_error(errc::invalid_request, "chat template is not valid UTF-8");
  return compiled_template::parse(source, template_options{true, true});
}

caf::expected<std::shared_ptr<const hf_chat_template>>
load_hf_chat_template(std::string_view tokenizer_config_json, const render_options& options) {
  auto config = json::parse(tokenizer_config_json, nullptr, false);
  if (config.is_discarded())
    return make_error(errc::invalid_request, "tokenizer_config.json is not valid JSON");
  if (!config.is_object())
    return make_error(errc::invalid_request, "tokenizer_config.json must be a JSON object");
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null())
    return make_error(errc::invalid_request, "no chat_template in tokenizer_config.json");
  auto source = select_template(*it);
  if (!source)
    return std::move(source.error());
  auto compiled = compile_hf_template(*source);
  if (!compiled)
    return std::move(compiled.error());
  json special = json::object();
  for (auto key : special_token_keys) {
    auto token = config.find(key);
    if (token == config.end())
      continue;
    if (token->is_string())
      special[std::string{key}] = *token;
    else if (token->is_object() && token->contains("content") && (*token)["content"].is_string())
      special[std::string{key}] = (*token)["content"];
  }
  return std::make_shared<const hf_chat_template>(std::move(*compiled), std::move(special),
                                                  options);
}

caf::expected<std::shared_ptr<const tokenizer::chat_template>>
load_hf_chat_template(std::string_view tokenizer_config_json) {
  auto loaded = load_hf_chat_template(tokenizer_config_json, render_options{});
  if (!loaded)
    return std::move(loaded.error());
  return std::shared_ptr<const tokenizer::chat_template>{std::move(*loaded)};
}

} // namespace dynamo::jinja
