#include "dynamo/tokenizer/chat_template.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <array>

namespace dynamo::tokenizer {

namespace {

constexpr std::array<std::string_view, 5> known_roles = {"system", "user", "assistant", "tool",
                                                         "developer"};

} // namespace

bool is_known_role(std::string_view role) noexcept {
  for (auto known : known_roles)
    if (known == role)
      return true;
  return false;
}

chat_template::~chat_template() = default;

caf::expected<std::string>
simple_chat_template::render(std::span<const chat_message> messages,
                             bool add_generation_prompt) const {
  std::string out;
  size_t index = 0;
  for (const auto& message : messages) {
    if (!is_known_role(message.role))
      return make_error(errc::invalid_request,
                        fmt::format("messages[{}]: unknown role '{}' (expected system, user, "
                                    "assistant, tool or developer)",
                                    index, message.role));
    out += "<|";
    out += message.role;
    out += "|>\n";
    out += message.content;
    out += '\n';
    ++index;
  }
  if (add_generation_prompt)
    out += "<|assistant|>\n";
  return out;
}

} // namespace dynamo::tokenizer
