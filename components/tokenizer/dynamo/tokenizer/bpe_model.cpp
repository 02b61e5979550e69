#include "dynamo/tokenizer/bpe_model.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/hf_json.hpp"
#include "dynamo/tokenizer/unicode.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <mutex>
#include <queue>
#include <shared_mutex>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "model";

/// Words longer than this (bytes) are not cached.
constexpr size_t max_cached_word = 256;

/// Entries the word cache holds at most; later words are encoded without caching.
constexpr size_t cache_capacity = 10000;

constexpr uint64_t pair_key(token_id left, token_id right) noexcept {
  return (static_cast<uint64_t>(left) << 32) | right;
}

struct symbol {
  token_id id;
  int32_t prev;
  int32_t next;
  size_t len;  // 0 once merged into its left neighbour
};

struct candidate {
  uint32_t rank;
  int32_t pos;
  token_id new_id;
  /// Reversed for std::priority_queue: lowest rank, then leftmost, comes first.
  bool operator<(const candidate& other) const noexcept {
    if (rank != other.rank)
      return rank > other.rank;
    return pos > other.pos;
  }
};

} // namespace

struct bpe_model::cache {
  std::shared_mutex mutex;
  std::unordered_map<std::string, std::vector<token_id>, string_hash, std::equal_to<>> words;
};

bpe_model::bpe_model() : cache_(std::make_unique<cache>()) {
}

bpe_model::bpe_model(bpe_model&&) noexcept = default;
bpe_model& bpe_model::operator=(bpe_model&&) noexcept = default;
bpe_model::~bpe_model() = default;

caf::expected<bpe_model> bpe_model::create(std::vector<std::pair<std::string, token_id>> vocab,
                                           const std::vector<merge>& merges,
                                           bpe_options options) {
  bpe_model model;
  for (auto& [token, id] : vocab) {
    if (id >= model.tokens_.size())
      model.tokens_.resize(static_cast<size_t>(id) + 1);
    if (model.tokens_[id])
      return malformed(component, fmt::format("id {} is used by two vocabulary entries", id));
    model.tokens_[id] = token;
    if (!model.vocab_.emplace(std::move(token), id).second)
      return malformed(component, fmt::format("token '{}' appears twice", *model.tokens_[id]));
  }
  for (uint32_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto a = model.token_to_id(left);
    auto b = model.token_to_id(right);
    auto joined = model.token_to_id(left + right);
    if (!a || !b || !joined)
      return malformed(component, fmt::format("merge {} ('{}' '{}') uses tokens outside the "
                                              "vocabulary",
                                              rank + 1, left, right));
    // Like tokenizers, a repeated pair keeps its last rank.
    model.merges_.insert_or_assign(pair_key(*a, *b), std::pair{rank, *joined});
  }
  if (options.unk_token) {
    model.unk_id_ = model.token_to_id(*options.unk_token);
    if (!model.unk_id_)
      return malformed(component,
                       fmt::format("unk_token '{}' is not in the vocabulary", *options.unk_token));
  }
  if (options.byte_fallback)
    for (uint32_t b = 0; b < 256; ++b)
      model.byte_ids_[b] = model.token_to_id(fmt::format("<0x{:02X}>", b));
  model.options_ = std::move(options);
  return model;
}

caf::expected<bpe_model> bpe_model::from_json(const nlohmann::json& node) {
  if (!node.is_object())
    return malformed(component, "expected an object");
  auto type = string_or(node, "type", "BPE");
  if (type != "BPE")
    return unsupported_type(component, type);
  for (auto key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!string_or(node, key, "").empty())
      return make_error(errc::invalid_request, fmt::format("unsupported BPE option {}", key));
  if (auto dropout = node.find("dropout");
      dropout != node.end() && !dropout->is_null() && dropout->get<double>() != 0.0)
    return make_error(errc::invalid_request, "unsupported BPE option dropout");
  auto vocab_node = node.find("vocab");
  if (vocab_node == node.end() || !vocab_node->is_object())
    return malformed(component, "BPE needs a \"vocab\" object");
  std::vector<std::pair<std::string, token_id>> vocab;
  vocab.reserve(vocab_node->size());
  for (const auto& [token, id] : vocab_node->items()) {
    auto checked = token_id_of(id, component);
    if (!checked)
      return std::move(checked.error());
    vocab.emplace_back(token, *checked);
  }
  std::vector<merge> merges;
  if (auto list = node.find("merges"); list != node.end() && !list->is_null()) {
    if (!list->is_array())
      return malformed(component, "\"merges\" must be an array");
    merges.reserve(list->size());
    for (const auto& m : *list) {
      if (m.is_string()) {
        auto text = m.get<std::string>();
        auto space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
          return malformed(component, fmt::format("merge '{}' is not two tokens", text));
        merges.emplace_back(text.substr(0, space), text.substr(space + 1));
      } else if (m.is_array() && m.size() == 2) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        return malformed(component, "a merge must be \"a b\" or [\"a\", \"b\"]");
      }
    }
  }
  bpe_options options;
  options.byte_fallback = bool_or(node, "byte_fallback", false);
  options.ignore_merges = bool_or(node, "ignore_merges", false);
  options.fuse_unk = bool_or(node, "fuse_unk", false);
  if (auto unk = string_or(node, "unk_token", ""); !unk.empty())
    options.unk_token = std::move(unk);
  return create(std::move(vocab), merges, std::move(options));
}

std::optional<token_id> bpe_model::token_to_id(std::string_view token) const {
  auto i = vocab_.find(token);
  if (i == vocab_.end())
    return std::nullopt;
  return i->second;
}

const std::string* bpe_model::id_to_token(token_id id) const noexcept {
  if (id >= tokens_.size() || !tokens_[id])
    return nullptr;
  return &*tokens_[id];
}

void bpe_model::encode_word(std::string_view word, std::vector<token_id>& out) const {
  if (word.empty())
    return;
  if (options_.ignore_merges)
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  bool cacheable = word.size() < max_cached_word;
  if (cacheable) {
    std::shared_lock lock{cache_->mutex};
    if (auto i = cache_->words.find(word); i != cache_->words.end()) {
      out.insert(out.end(), i->second.begin(), i->second.end());
      return;
    }
  }
  auto ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::unique_lock lock{cache_->mutex};
    if (cache_->words.size() < cache_capacity)
      cache_->words.emplace(std::string{word}, std::move(ids));
  }
}

std::vector<token_id> bpe_model::merge_word(std::string_view word) const {
  std::vector<symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](token_id id, size_t len) {
    auto pos = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, pos - 1, -1, len});
    if (pos > 0)
      symbols[static_cast<size_t>(pos) - 1].next = pos;
  };
  std::optional<std::pair<token_id, size_t>> unk;  // pending unknown run (id, bytes)
  for (size_t pos = 0; pos < word.size();) {
    auto size = next_char(word, pos).size;
    auto piece = word.substr(pos, size);
    pos += size;
    if (auto id = token_to_id(piece)) {
      if (unk) {
        add(unk->first, unk->second);
        unk.reset();
      }
      add(*id, size);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = std::all_of(piece.begin(), piece.end(), [&](char c) {
        return byte_ids_[static_cast<uint8_t>(c)].has_value();
      });
      if (all) {
        // As in tokenizers, a pending unk is not flushed before fallback bytes.
        for (char c : piece)
          add(*byte_ids_[static_cast<uint8_t>(c)], 1);
        continue;
      }
    }
    if (!unk_id_)
      continue;  // no unk token: the character is dropped, as in tokenizers
    if (unk && options_.fuse_unk) {
      unk->second += size;
    } else {
      if (unk)
        add(unk->first, unk->second);
      unk = std::pair{*unk_id_, size};
    }
  }
  if (unk)
    add(unk->first, unk->second);

  std::priority_queue<candidate> queue;
  auto consider = [&](int32_t pos) {
    auto next = symbols[static_cast<size_t>(pos)].next;
    if (next < 0)
      return;
    auto m = merges_.find(pair_key(symbols[static_cast<size_t>(pos)].id,
                                   symbols[static_cast<size_t>(next)].id));
    if (m != merges_.end())
      queue.push({m->second.first, pos, m->second.second});
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos)
    consider(pos);
  while (!queue.empty()) {
    auto top = queue.top();
    queue.pop();
    auto& left = symbols[static_cast<size_t>(top.pos)];
    if (left.len == 0 || left.next < 0)
      continue;
    auto right_pos = left.next;
    auto& right = symbols[static_cast<size_t>(right_pos)];
    auto m = merges_.find(pair_key(left.id, right.id));
    if (m == merges_.end() || m->second.second != top.new_id)
      continue;  // stale entry
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    right.len = 0;
    if (left.next >= 0)
      symbols[static_cast<size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0)
      consider(left.prev);
    consider(top.pos);
  }
  std::vector<token_id> ids;
  for (const auto& s : symbols)
    if (s.len != 0)
      ids.push_back(s.id);
  return ids;
}

} // namespace dynamo::tokenizer
