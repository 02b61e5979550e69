#include "dynamo/tokenizer/tokenizer.hpp"

namespace dynamo::tokenizer {

decode_stream::~decode_stream() = default;

tokenizer::~tokenizer() = default;

std::vector<token_id> tokenizer::encode_special(std::string_view text) const {
  return encode(text);
}

std::vector<token_id> tokenizer::prompt_prefix() const {
  return {};
}

} // namespace dynamo::tokenizer
