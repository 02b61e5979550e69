#include "dynamo/openai/types.hpp"

namespace dynamo::openai {

std::string_view to_string(api_kind kind) noexcept {
  return kind == api_kind::chat ? "chat" : "completions";
}

} // namespace dynamo::openai
