// The BPE model of a Hugging Face tokenizer: vocabulary, ranked merges, byte fallback, unk.
#pragma once

#include "dynamo/tokenizer/tokenizer.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dynamo::tokenizer {

/// Settings of a BPE model besides vocabulary and merges.
struct bpe_options {
  bool byte_fallback = false;            ///< Unknown characters become <0xNN> tokens.
  bool ignore_merges = false;            ///< A word found in the vocabulary is one token.
  bool fuse_unk = false;                 ///< Consecutive unknown characters share one unk.
  std::optional<std::string> unk_token;  ///< Token for unknown characters, if any.
};

/// Encodes words with ranked merges. Immutable apart from an internal, synchronised word
/// cache: all const members may be called from any thread concurrently.
class bpe_model {
public:
  /// A merge: the two tokens joined, in rank order.
  using merge = std::pair<std::string, std::string>;

  /// Builds a model. Errors: invalid_request for a merge whose parts or result are not in
  /// the vocabulary, an unk_token outside it, or duplicate ids.
  static caf::expected<bpe_model> create(std::vector<std::pair<std::string, token_id>> vocab,
                                         const std::vector<merge>& merges, bpe_options options);

  /// Parses tokenizer.json's "model" (type BPE; merges as "a b" strings or ["a", "b"] pairs).
  /// Errors: invalid_request for another model type, continuing_subword_prefix,
  /// end_of_word_suffix or dropout, or malformed vocab/merges.
  static caf::expected<bpe_model> from_json(const nlohmann::json& node);

  /// An empty model: every word encodes to nothing.
  bpe_model();

  /// Moves the model (and its cache). Not while another thread uses `other`.
  bpe_model(bpe_model&& other) noexcept;
  /// Move-assigns the model. Not while another thread uses either side.
  bpe_model& operator=(bpe_model&& other) noexcept;
  /// Releases the model.
  ~bpe_model();

  /// Appends the ids of `word` (already normalized and pre-tokenized) to `out`.
  void encode_word(std::string_view word, std::vector<token_id>& out) const;

  /// The id of `token`, if it is in the vocabulary.
  std::optional<token_id> token_to_id(std::string_view token) const;

  /// The string of `id`, or nullptr outside the vocabulary.
  const std::string* id_to_token(token_id id) const noexcept;

  /// One past the largest id in the vocabulary.
  size_t id_bound() const noexcept { return tokens_.size(); }

private:
  struct cache;
  struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::vector<token_id> merge_word(std::string_view word) const;

  std::unordered_map<std::string, token_id, string_hash, std::equal_to<>> vocab_;
  std::vector<std::optional<std::string>> tokens_;  // id -> token
  std::unordered_map<uint64_t, std::pair<uint32_t, token_id>> merges_;  // pair -> rank, new id
  bpe_options options_;
  std::optional<token_id> unk_id_;
  std::array<std::optional<token_id>, 256> byte_ids_{};
  std::unique_ptr<cache> cache_;
};

} // namespace dynamo::tokenizer
