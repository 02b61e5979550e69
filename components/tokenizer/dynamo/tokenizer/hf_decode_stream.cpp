#include "dynamo/tokenizer/hf_state.hpp"

#include "dynamo/tokenizer/utf8.hpp"

namespace dynamo::tokenizer {

namespace {

/// Tokens held while the text ends in U+FFFD before the stream emits it anyway (only
/// reachable with ill-formed byte sequences).
constexpr size_t max_pending = 32;

/// Incremental detokenization by differences: each push decodes a short window (the tokens
/// of the last emitted chunk as context, plus the new ones) and emits what goes beyond the
/// context's own text. Text that still ends in U+FFFD may be an incomplete byte sequence and
/// is held back. Context-dependent decoders (Metaspace's first-token strip, Strip after Fuse)
/// see the same context in both decodes, so the concatenation equals decode() of all ids.
class hf_decode_stream final : public decode_stream {
public:
  hf_decode_stream(std::shared_ptr<const hf_tokenizer::state> s, bool skip_special)
    : state_(std::move(s)), skip_special_(skip_special) {
  }

  std::string push(token_id token) override {
    if (skip_special_) {
      // A skipped special never reaches the decoder, so it cannot affect any text.
      const auto* added = state_->added.find(token);
      if (added != nullptr && added->special)
        return {};
    }
    ids_.push_back(token);
    auto text = state_->decode(ids_, skip_special_);
    bool grew = text.size() > prefix_.size() && text.starts_with(prefix_);
    if (grew && !text.ends_with(replacement_character))
      return emit(std::move(text));
    if (ids_.size() - context_ > max_pending)
      return emit(std::move(text));
    return {};
  }

  std::string flush() override {
    std::string out;
    if (ids_.size() > context_) {
      auto text = state_->decode(ids_, skip_special_);
      out = delta(text);
    }
    ids_.clear();
    prefix_.clear();
    context_ = 0;
    return out;
  }

private:
  /// The part of `text` beyond what was already emitted.
  std::string delta(const std::string& text) const {
    if (text.starts_with(prefix_))
      return text.substr(prefix_.size());
    // The window decodes differently than before (only after a forced emission of garbage):
    // never re-emit, never emit invalid UTF-8.
    return text.size() > prefix_.size() ? sanitize_utf8(text.substr(prefix_.size())) : "";
  }

  std::string emit(std::string text) {
    auto out = delta(text);
    // The tokens just emitted become the context of the next window.
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(context_));
    context_ = ids_.size();
    prefix_ = state_->decode(ids_, skip_special_);
    return out;
  }

  std::shared_ptr<const hf_tokenizer::state> state_;
  bool skip_special_;
  std::vector<token_id> ids_;  // context tokens, then pending ones
  size_t context_ = 0;         // how many of ids_ are context
  std::string prefix_;         // decode of the context
};

} // namespace

std::unique_ptr<decode_stream> make_hf_decode_stream(std::shared_ptr<const hf_tokenizer::state> s,
                                                     bool skip_special) {
  return std::make_unique<hf_decode_stream>(std::move(s), skip_special);
}

} // namespace dynamo::tokenizer
