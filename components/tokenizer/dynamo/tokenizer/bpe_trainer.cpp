#include "dynamo/tokenizer/bpe_trainer.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/byte_level.hpp"
#include "dynamo/tokenizer/regex.hpp"
#include "dynamo/tokenizer/unicode.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace dynamo::tokenizer {

namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view metaspace = "\xE2\x96\x81";  // U+2581 "▁"

/// A symbol that never takes part in a merge (a character left to byte fallback).
constexpr uint32_t barrier = UINT32_MAX;

/// Calls `on_text` for each stretch of `corpus` between occurrences of the special tokens
/// (leftmost, longest first).
template <class F>
void for_each_plain_segment(std::string_view corpus, const std::vector<std::string>& specials,
                            F&& on_text) {
  std::vector<std::string_view> by_length(specials.begin(), specials.end());
  std::sort(by_length.begin(), by_length.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  size_t start = 0;
  size_t pos = 0;
  while (pos < corpus.size()) {
    auto hit = std::find_if(by_length.begin(), by_length.end(), [&](std::string_view s) {
      return corpus.substr(pos).starts_with(s);
    });
    if (hit == by_length.end()) {
      ++pos;
      continue;
    }
    if (pos > start)
      on_text(corpus.substr(start, pos - start));
    pos += hit->size();
    start = pos;
  }
  if (start < corpus.size())
    on_text(corpus.substr(start));
}

/// Key of an adjacent symbol pair.
constexpr uint64_t pair_key(uint32_t left, uint32_t right) noexcept {
  return (static_cast<uint64_t>(left) << 32) | right;
}

struct word {
  std::vector<uint32_t> symbols;
  int64_t count = 0;
};

struct heap_entry {
  int64_t count;
  uint64_t pair;
  /// Max-heap order: higher count first, then the smaller pair (left id, then right id).
  bool operator<(const heap_entry& other) const noexcept {
    if (count != other.count)
      return count < other.count;
    return pair > other.pair;
  }
};

/// The merge loop over pre-tokenized, counted words.
class trainer {
public:
  trainer(std::vector<std::string> vocab, std::unordered_set<std::string> forbidden)
    : vocab_(std::move(vocab)), forbidden_(std::move(forbidden)) {
    for (uint32_t id = 0; id < vocab_.size(); ++id)
      ids_.emplace(vocab_[id], id);
  }

  /// Id of `token`, if it is in the vocabulary.
  std::optional<uint32_t> find(const std::string& token) const {
    auto i = ids_.find(token);
    return i == ids_.end() ? std::nullopt : std::optional<uint32_t>{i->second};
  }

  /// Adds a word occurring `count` times.
  void add_word(std::vector<uint32_t> symbols, int64_t count) {
    words_.push_back({std::move(symbols), count});
  }

  /// Merges the most frequent pair until the vocabulary has `vocab_size` entries.
  void run(size_t vocab_size) {
    for (uint32_t w = 0; w < words_.size(); ++w)
      count_pairs(w, +1);
    for (const auto& [pair, count] : counts_)
      heap_.push({count, pair});
    while (vocab_.size() < vocab_size && !heap_.empty()) {
      auto top = heap_.top();
      heap_.pop();
      auto current = counts_.find(top.pair);
      auto count = current == counts_.end() ? int64_t{0} : current->second;
      if (count != top.count) {
        if (count > 0 && count < top.count)
          heap_.push({count, top.pair});
        continue;
      }
      auto left = static_cast<uint32_t>(top.pair >> 32);
      auto right = static_cast<uint32_t>(top.pair & 0xFFFFFFFFu);
      auto merged = vocab_[left] + vocab_[right];
      if (forbidden_.contains(merged))
        continue;
      uint32_t new_id = 0;
      if (auto existing = find(merged)) {
        new_id = *existing;
      } else {
        new_id = static_cast<uint32_t>(vocab_.size());
        vocab_.push_back(merged);
        ids_.emplace(std::move(merged), new_id);
      }
      merges_.emplace_back(left, right);
      apply(top.pair, left, right, new_id);
    }
  }

  const std::vector<std::string>& vocab() const noexcept { return vocab_; }

  const std::vector<std::pair<uint32_t, uint32_t>>& merges() const noexcept { return merges_; }

private:
  /// Adds (`sign` = +1) or removes (-1) the pairs of word `w` from the counts.
  void count_pairs(uint32_t w, int sign) {
    const auto& symbols = words_[w].symbols;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (symbols[i] == barrier || symbols[i + 1] == barrier)
        continue;
      auto key = pair_key(symbols[i], symbols[i + 1]);
      auto& count = counts_[key];
      count += sign * words_[w].count;
      if (sign > 0) {
        auto& where = where_[key];
        if (where.empty() || where.back() != w)
          where.push_back(w);
        touched_.insert(key);
      } else if (count == 0) {
        counts_.erase(key);
      }
    }
  }

  void apply(uint64_t key, uint32_t left, uint32_t right, uint32_t new_id) {
    auto where = std::move(where_[key]);
    where_.erase(key);
    std::sort(where.begin(), where.end());
    where.erase(std::unique(where.begin(), where.end()), where.end());
    touched_.clear();
    for (auto w : where) {
      auto& symbols = words_[w].symbols;
      bool present = false;
      for (size_t i = 0; i + 1 < symbols.size() && !present; ++i)
        present = symbols[i] == left && symbols[i + 1] == right;
      if (!present)
        continue;
      count_pairs(w, -1);
      std::vector<uint32_t> next;
      next.reserve(symbols.size());
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
          next.push_back(new_id);
          ++i;
        } else {
          next.push_back(symbols[i]);
        }
      }
      symbols = std::move(next);
      count_pairs(w, +1);
    }
    counts_.erase(key);
    for (auto pair : touched_) {
      auto i = counts_.find(pair);
      if (i != counts_.end() && i->second > 0 && pair != key)
        heap_.push({i->second, pair});
    }
  }

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, uint32_t> ids_;
  std::unordered_set<std::string> forbidden_;
  std::vector<word> words_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where_;
  std::unordered_set<uint64_t> touched_;
  std::priority_queue<heap_entry> heap_;
  std::vector<std::pair<uint32_t, uint32_t>> merges_;
};

caf::error validate(const bpe_training& opts) {
  std::unordered_set<std::string_view> seen;
  for (const auto& s : opts.special_tokens) {
    if (s.empty())
      return make_error(errc::invalid_request, "special tokens must not be empty");
    if (!is_valid_utf8(s))
      return make_error(errc::invalid_request, "special tokens must be valid UTF-8");
    if (!seen.insert(s).second)
      return make_error(errc::invalid_request, fmt::format("duplicate special token '{}'", s));
  }
  size_t floor = opts.special_tokens.size() + 256;
  if (opts.vocab_size < floor)
    return make_error(errc::invalid_request,
                      fmt::format("vocab_size {} is below the {} special tokens + 256 base tokens",
                                  opts.vocab_size, opts.special_tokens.size()));
  return {};
}

/// Pre-tokenized words of the corpus with their counts, in a deterministic order.
using word_counts = std::map<std::string, int64_t>;

caf::expected<word_counts> byte_level_words(std::string_view corpus, const bpe_training& opts) {
  auto split = regex::compile(llama3_split_pattern);
  if (!split)
    return std::move(split.error());
  word_counts words;
  for_each_plain_segment(corpus, opts.special_tokens, [&](std::string_view segment) {
    auto text = to_nfc(segment);
    size_t prev = 0;
    auto add = [&](size_t from, size_t to) {
      std::string w;
      append_byte_level(std::string_view{text}.substr(from, to - from), w);
      ++words[w];
    };
    for (auto [start, end] : split->find_all(text)) {
      if (start > prev)
        add(prev, start);
      add(start, end);
      prev = end;
    }
    if (prev < text.size())
      add(prev, text.size());
  });
  return words;
}

word_counts sentencepiece_words(std::string_view corpus, const bpe_training& opts) {
  word_counts words;
  for_each_plain_segment(corpus, opts.special_tokens, [&](std::string_view segment) {
    std::string text{metaspace};
    replace_all(segment, " ", metaspace, text);
    // Split before every "▁" so that no merge spans a word boundary.
    std::string_view rest{text};
    while (!rest.empty()) {
      auto next = rest.find(metaspace, metaspace.size());
      auto w = rest.substr(0, next);
      ++words[std::string{w}];
      rest.remove_prefix(w.size());
    }
  });
  return words;
}

json added_token(uint32_t id, const std::string& content) {
  return json{{"id", id},          {"content", content}, {"single_word", false},
              {"lstrip", false},   {"rstrip", false},    {"normalized", false},
              {"special", true}};
}

json model_json(const trainer& t, bool sentencepiece, const std::vector<std::string>& specials) {
  json vocab = json::object();
  for (uint32_t id = 0; id < t.vocab().size(); ++id)
    vocab[t.vocab()[id]] = id;
  json merges = json::array();
  for (auto [left, right] : t.merges())
    merges.push_back(json::array({t.vocab()[left], t.vocab()[right]}));
  bool has_unk = sentencepiece
                 && std::find(specials.begin(), specials.end(), "<unk>") != specials.end();
  return json{{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", has_unk ? json("<unk>") : json(nullptr)},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", sentencepiece},
              {"byte_fallback", sentencepiece},
              {"ignore_merges", false},
              {"vocab", std::move(vocab)},
              {"merges", std::move(merges)}};
}

json byte_level_pipeline(json doc) {
  doc["normalizer"] = {{"type", "NFC"}};
  doc["pre_tokenizer"] = {
    {"type", "Sequence"},
    {"pretokenizers",
     json::array({json{{"type", "Split"},
                       {"pattern", {{"Regex", std::string{llama3_split_pattern}}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                  json{{"type", "ByteLevel"},
                       {"add_prefix_space", false},
                       {"trim_offsets", true},
                       {"use_regex", false}}})}};
  doc["post_processor"] = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", false},
                           {"use_regex", false}};
  doc["decoder"] = {{"type", "ByteLevel"},
                    {"add_prefix_space", false},
                    {"trim_offsets", true},
                    {"use_regex", false}};
  return doc;
}

json sentencepiece_pipeline(json doc, const trainer& t) {
  doc["normalizer"] = {
    {"type", "Sequence"},
    {"normalizers", json::array({json{{"type", "Prepend"}, {"prepend", metaspace}},
                                 json{{"type", "Replace"},
                                      {"pattern", {{"String", " "}}},
                                      {"content", metaspace}}})}};
  doc["pre_tokenizer"] = nullptr;
  if (auto bos = t.find("<s>")) {
    auto sequence = [](std::string_view id, int type_id) {
      return json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
    };
    auto bos_piece = [](int type_id) {
      return json{{"SpecialToken", {{"id", "<s>"}, {"type_id", type_id}}}};
    };
    doc["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({bos_piece(0), sequence("A", 0)})},
      {"pair", json::array({bos_piece(0), sequence("A", 0), bos_piece(1), sequence("B", 1)})},
      {"special_tokens",
       {{"<s>", {{"id", "<s>"}, {"ids", json::array({*bos})}, {"tokens", json::array({"<s>"})}}}}}};
  } else {
    doc["post_processor"] = nullptr;
  }
  doc["decoder"] = {
    {"type", "Sequence"},
    {"decoders",
     json::array({json{{"type", "Replace"}, {"pattern", {{"String", metaspace}}}, {"content", " "}},
                  json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}},
                  json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  return doc;
}

} // namespace

caf::expected<std::string> train_bpe(std::string_view corpus, const bpe_training& opts) {
  if (auto err = validate(opts))
    return err;
  auto text = sanitize_utf8(corpus);
  bool sentencepiece = opts.style == bpe_style::sentencepiece;
  std::vector<std::string> base(opts.special_tokens.begin(), opts.special_tokens.end());
  std::unordered_set<std::string> forbidden(base.begin(), base.end());
  for (uint32_t b = 0; b < 256; ++b) {
    std::string token;
    if (sentencepiece) {
      token = fmt::format("<0x{:02X}>", b);
    } else {
      char byte = static_cast<char>(b);
      append_byte_level(std::string_view{&byte, 1}, token);
    }
    if (forbidden.contains(token))
      return make_error(errc::invalid_request,
                        fmt::format("special token '{}' collides with a base token", token));
    base.push_back(std::move(token));
  }
  word_counts words;
  if (sentencepiece) {
    words = sentencepiece_words(text, opts);
    // The character alphabet: most frequent first, as far as the vocabulary allows.
    std::map<char32_t, int64_t> chars;
    for (const auto& [w, count] : words)
      for (size_t pos = 0; pos < w.size();) {
        auto ch = next_char(w, pos);
        chars[ch.code_point] += count;
        pos += ch.size;
      }
    std::vector<std::pair<char32_t, int64_t>> ranked(chars.begin(), chars.end());
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [cp, count] : ranked) {
      if (base.size() >= opts.vocab_size)
        break;
      std::string token;
      append_utf8(cp, token);
      if (!forbidden.contains(token))
        base.push_back(std::move(token));
    }
  } else {
    auto split = byte_level_words(text, opts);
    if (!split)
      return std::move(split.error());
    words = std::move(*split);
  }
  trainer t{std::move(base), std::move(forbidden)};
  for (const auto& [w, count] : words) {
    std::vector<uint32_t> symbols;
    for (size_t pos = 0; pos < w.size();) {
      auto ch = next_char(w, pos);
      auto id = t.find(w.substr(pos, ch.size));
      symbols.push_back(id ? *id : barrier);
      pos += ch.size;
    }
    t.add_word(std::move(symbols), count);
  }
  t.run(opts.vocab_size);

  json doc{{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}};
  json added = json::array();
  for (uint32_t id = 0; id < opts.special_tokens.size(); ++id)
    added.push_back(added_token(id, opts.special_tokens[id]));
  doc["added_tokens"] = std::move(added);
  doc = sentencepiece ? sentencepiece_pipeline(std::move(doc), t)
                      : byte_level_pipeline(std::move(doc));
  doc["model"] = model_json(t, sentencepiece, opts.special_tokens);
  return doc.dump(1, ' ', false, json::error_handler_t::strict);
}

} // namespace dynamo::tokenizer
