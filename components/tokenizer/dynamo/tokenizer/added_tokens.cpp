#include "dynamo/tokenizer/added_tokens.hpp"

#include "dynamo/tokenizer/hf_json.hpp"
#include "dynamo/tokenizer/unicode.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "added_tokens";

/// The code point that ends `text` (non-empty, well-formed).
char32_t last_char(std::string_view text) noexcept {
  size_t pos = text.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80)
    --pos;
  return next_char(text, pos).code_point;
}

/// Start of the whitespace run that ends `text`.
size_t whitespace_run_start(std::string_view text) noexcept {
  size_t pos = text.size();
  while (pos > 0) {
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
      --start;
    if (!is_white_space(next_char(text, start).code_point))
      break;
    pos = start;
  }
  return pos;
}

/// Length of the whitespace run that starts `text`.
size_t whitespace_run_length(std::string_view text) noexcept {
  size_t pos = 0;
  while (pos < text.size()) {
    auto ch = next_char(text, pos);
    if (!is_white_space(ch.code_point))
      break;
    pos += ch.size;
  }
  return pos;
}

} // namespace

caf::error added_vocabulary::init(std::vector<added_token> tokens) {
  tokens_ = std::move(tokens);
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const auto& t = tokens_[i];
    if (t.content.empty())
      return malformed(component, fmt::format("token {} has empty content", t.id));
    if (!by_id_.emplace(t.id, i).second)
      return malformed(component, fmt::format("id {} appears twice", t.id));
    if (!t.normalized)
      add_pattern(t.content, t.id, false);
  }
  return {};
}

void added_vocabulary::add_pattern(std::string text, token_id id, bool normalized) {
  if (text.empty())
    return;
  auto& bucket = patterns_[normalized ? 1 : 0][static_cast<unsigned char>(text.front())];
  bucket.push_back({std::move(text), by_id_.at(id)});
  std::stable_sort(bucket.begin(), bucket.end(), [](const pattern& a, const pattern& b) {
    return a.text.size() > b.text.size();
  });
}

std::vector<added_split> added_vocabulary::split(std::string_view text, bool normalized,
                                                 bool match_special) const {
  std::vector<added_split> out;
  const auto& buckets = patterns_[normalized ? 1 : 0];
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size() && !buckets.empty()) {
    auto bucket = buckets.find(static_cast<unsigned char>(text[pos]));
    const pattern* hit = nullptr;
    if (bucket != buckets.end())
      for (const auto& p : bucket->second)
        if (text.substr(pos).starts_with(p.text)) {
          hit = &p;
          break;
        }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + hit->text.size();
    pos = stop;  // the search resumes after this match even when it is not used
    const auto& token = tokens_[hit->token];
    if (token.special && !match_special)
      continue;
    if (start < start_offset)
      continue;
    if (token.single_word) {
      bool free_left = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      bool free_right = stop == text.size() || !is_word_char(next_char(text, stop).code_point);
      if (!free_left || !free_right)
        continue;
    }
    if (token.lstrip)
      start = std::max(whitespace_run_start(text.substr(0, start)), start_offset);
    if (token.rstrip)
      stop += whitespace_run_length(text.substr(stop));
    if (start_offset < start)
      out.push_back({start_offset, start, std::nullopt});
    out.push_back({start, stop, token.id});
    start_offset = stop;
    pos = stop;
  }
  if (start_offset < text.size() || out.empty())
    out.push_back({start_offset, text.size(), std::nullopt});
  return out;
}

const added_token* added_vocabulary::find(token_id id) const noexcept {
  auto i = by_id_.find(id);
  return i == by_id_.end() ? nullptr : &tokens_[i->second];
}

const added_token* added_vocabulary::find(std::string_view content) const noexcept {
  auto i = std::find_if(tokens_.begin(), tokens_.end(),
                        [&](const added_token& t) { return t.content == content; });
  return i == tokens_.end() ? nullptr : &*i;
}

} // namespace dynamo::tokenizer
