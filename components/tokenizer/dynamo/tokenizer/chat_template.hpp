// Chat templates: turn a conversation into the prompt text a model was trained on.
#pragma once

#include <caf/expected.hpp>

#include <span>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

/// One conversation turn. `role` is one of system, user, assistant, tool, developer.
struct chat_message {
  std::string role;     ///< system, user, assistant, tool or developer.
  std::string content;  ///< Plain text of the turn.
};

/// True for the roles a chat template accepts: system, user, assistant, tool, developer.
bool is_known_role(std::string_view role) noexcept;

/// Renders a conversation to prompt text. Implementations are immutable; any thread.
class chat_template {
public:
  virtual ~chat_template();

  /// Renders `messages`; with `add_generation_prompt` appends the opening of an assistant turn.
  /// Errors: invalid_request for a role the template does not know.
  virtual caf::expected<std::string> render(std::span<const chat_message> messages,
                                            bool add_generation_prompt) const = 0;
};

/// The builtin template: "<|role|>\ncontent\n" per message and "<|assistant|>\n" as the
/// generation prompt. Content is copied verbatim (no escaping of marker-like text).
class simple_chat_template final : public chat_template {
public:
  /// See chat_template::render. Errors: invalid_request naming the message index and role.
  caf::expected<std::string> render(std::span<const chat_message> messages,
                                    bool add_generation_prompt) const override;
};

} // namespace dynamo::tokenizer
