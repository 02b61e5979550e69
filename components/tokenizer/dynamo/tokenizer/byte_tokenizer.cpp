#include "dynamo/tokenizer/byte_tokenizer.hpp"

#include "dynamo/tokenizer/utf8.hpp"

namespace dynamo::tokenizer {

namespace {

/// Literal text of a special id, or empty for a non-special id.
std::string_view special_text(token_id id) noexcept {
  switch (id) {
    case byte_tokenizer::bos_id:
      return "<|bos|>";
    case byte_tokenizer::eos_id:
      return "<|eos|>";
    default:
      return {};
  }
}

class byte_decode_stream final : public decode_stream {
public:
  explicit byte_decode_stream(bool skip_special) : skip_special_(skip_special) {
  }

  std::string push(token_id token) override {
    std::string out;
    if (token < 256) {
      auto byte = static_cast<char>(token);
      sanitizer_.push(std::string_view{&byte, 1}, out);
    } else if (token < byte_tokenizer::vocabulary_size) {
      if (!skip_special_)
        sanitizer_.push(special_text(token), out);
    } else {
      // An id outside the vocabulary interrupts any sequence in progress.
      out += sanitizer_.flush();
      out += replacement_character;
    }
    return out;
  }

  std::string flush() override {
    return sanitizer_.flush();
  }

private:
  bool skip_special_;
  utf8_sanitizer sanitizer_;
};

} // namespace

std::vector<token_id> byte_tokenizer::encode(std::string_view text) const {
  std::vector<token_id> ids;
  ids.reserve(text.size());
  for (char c : text)
    ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

std::string byte_tokenizer::decode(std::span<const token_id> tokens, bool skip_special) const {
  std::string out;
  out.reserve(tokens.size());
  for (auto token : tokens) {
    if (token < 256)
      out.push_back(static_cast<char>(static_cast<uint8_t>(token)));
    else if (token < vocabulary_size)
      out += skip_special ? std::string_view{} : special_text(token);
    else
      out += replacement_character;
  }
  return out;
}

std::unique_ptr<decode_stream> byte_tokenizer::make_decode_stream(bool skip_special) const {
  return std::make_unique<byte_decode_stream>(skip_special);
}

} // namespace dynamo::tokenizer
