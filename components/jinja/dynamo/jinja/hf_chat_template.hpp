// Hugging Face chat templates: the `chat_template` of a tokenizer_config.json, rendered the
// way transformers' apply_chat_template does (trim_blocks, lstrip_blocks, loop controls,
// raise_exception, strftime_now, special tokens as variables).
#pragma once

#include "dynamo/jinja/template.hpp"
#include "dynamo/tokenizer/chat_template.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace dynamo::jinja {

/// A compiled Hugging Face chat template with the special tokens it renders with.
/// Immutable; render() and render_context() may run on any thread concurrently.
class hf_chat_template final : public tokenizer::chat_template {
public:
  /// Wraps `tmpl`; `special_tokens` (e.g. {"bos_token": "<s>"}) become template variables.
  hf_chat_template(compiled_template tmpl, json special_tokens, render_options options = {});

  /// Renders messages (role, content), add_generation_prompt and the special tokens.
  /// Errors: invalid_request with the template's raise_exception message verbatim, or
  /// "template error at ..." for other template failures.
  caf::expected<std::string> render(std::span<const tokenizer::chat_message> messages,
                                    bool add_generation_prompt) const override;

  /// Renders with a full context (messages with tool_calls, tools, documents, ...); the
  /// special tokens are added where `context` does not set them. Errors as render().
  caf::expected<std::string> render_context(json context) const;

  /// The special tokens passed to the template.
  const json& special_tokens() const noexcept { return special_tokens_; }

private:
  compiled_template template_;
  json special_tokens_;
  render_options options_;
};

/// Compiles template text the way transformers does (trim_blocks and lstrip_blocks on).
/// Errors: invalid_request naming line/column of a syntax error. Any thread.
caf::expected<compiled_template> compile_hf_template(std::string_view source);

/// Reads "chat_template" (a string, or a list of {name, template} of which "default" is
/// taken) and the special tokens (bos_token, eos_token, unk_token, pad_token, sep_token,
/// cls_token, mask_token: a string or {"content": ...}) from tokenizer_config.json text.
/// Errors: invalid_request "no chat_template in tokenizer_config.json", for invalid JSON, a
/// malformed chat_template entry, or a template syntax error. Any thread.
caf::expected<std::shared_ptr<const tokenizer::chat_template>>
load_hf_chat_template(std::string_view tokenizer_config_json);

/// As above, returning the concrete type and rendering under `options`.
caf::expected<std::shared_ptr<const hf_chat_template>>
load_hf_chat_template(std::string_view tokenizer_config_json, const render_options& options);

} // namespace dynamo::jinja
