// Hugging Face BPE tokenizers (tokenizer.json + tokenizer_config.json) as used by Llama 2/3,
// Mistral, TinyLlama, Qwen2, SmolLM and GPT-2, with the exact semantics of `tokenizers`.
#pragma once

#include "dynamo/tokenizer/tokenizer.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace dynamo::tokenizer {

/// A tokenizer loaded from tokenizer.json. Immutable after construction; all const members
/// may be called from any thread concurrently. Input that is not well-formed UTF-8 is encoded
/// as if every ill-formed subsequence were U+FFFD.
class hf_tokenizer final : public tokenizer {
public:
  /// The loaded pipeline (hf_state.hpp), shared with decode streams.
  struct state;

  /// Wraps loaded state; use load_hf_tokenizer / parse_hf_tokenizer instead.
  explicit hf_tokenizer(std::shared_ptr<const state> s);
  /// Releases this handle; decode streams keep the state alive.
  ~hf_tokenizer() override;

  /// Encodes `text`; added tokens that are not special still match, specials never do.
  std::vector<token_id> encode(std::string_view text) const override;

  /// Encodes `text` with every added token (special or not) matching its literal text.
  std::vector<token_id> encode_special(std::string_view text) const override;

  /// The post-processor's tokens before $A, adjusted by tokenizer_config's add_bos_token.
  std::vector<token_id> prompt_prefix() const override;

  /// Decodes through the tokenizer.json decoder; unknown ids become U+FFFD.
  std::string decode(std::span<const token_id> tokens, bool skip_special = true) const override;

  /// One past the largest id of the vocabulary and the added tokens.
  size_t vocab_size() const noexcept override;

  /// From tokenizer_config.json's eos_token (or a well-known special when absent).
  std::optional<token_id> eos_token_id() const noexcept override;

  /// From tokenizer_config.json's bos_token (or a well-known special when absent).
  std::optional<token_id> bos_token_id() const noexcept override;

  /// "hf-bpe".
  std::string_view name() const noexcept override { return "hf-bpe"; }

  /// A stream whose concatenated output equals decode() of all pushed ids.
  std::unique_ptr<decode_stream> make_decode_stream(bool skip_special = true) const override;

  /// The id of an added token or vocabulary entry spelled `token`.
  std::optional<token_id> token_to_id(std::string_view token) const;

  /// The spelling of `id` (added token content or vocabulary entry), if it exists.
  std::optional<std::string> id_to_token(token_id id) const;

  /// True when `id` is an added token marked special.
  bool is_special(token_id id) const noexcept;

private:
  std::shared_ptr<const state> state_;
};

/// Loads tokenizer.json (or a directory holding tokenizer.json) and the optional
/// tokenizer_config.json (empty path: the one beside tokenizer.json, if present). Any thread.
/// Errors: not_found for a missing tokenizer.json; invalid_request for unreadable or malformed
/// files and unsupported components ("unsupported pre_tokenizer type 'Whitespace'").
caf::expected<std::shared_ptr<const tokenizer>>
load_hf_tokenizer(const std::filesystem::path& tokenizer_json,
                  const std::filesystem::path& tokenizer_config_json = {});

/// Like load_hf_tokenizer, from the JSON texts (`tokenizer_config_json` may be empty). Any
/// thread. Errors: invalid_request as above.
caf::expected<std::shared_ptr<const hf_tokenizer>>
parse_hf_tokenizer(std::string_view tokenizer_json, std::string_view tokenizer_config_json = {});

} // namespace dynamo::tokenizer
