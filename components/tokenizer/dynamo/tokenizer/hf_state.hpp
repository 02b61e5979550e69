// The loaded pipeline behind hf_tokenizer, shared by the tokenizer and its decode streams.
#pragma once

#include "dynamo/tokenizer/added_tokens.hpp"
#include "dynamo/tokenizer/bpe_model.hpp"
#include "dynamo/tokenizer/hf_decoders.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"
#include "dynamo/tokenizer/normalize.hpp"
#include "dynamo/tokenizer/pretokenize.hpp"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dynamo::tokenizer {

/// Everything tokenizer.json and tokenizer_config.json define. Immutable once built.
struct hf_tokenizer::state {
  normalizer normalize;          ///< tokenizer.json "normalizer".
  pre_tokenizer pre_tokenize;    ///< tokenizer.json "pre_tokenizer".
  bpe_model model;               ///< tokenizer.json "model".
  added_vocabulary added;        ///< tokenizer.json "added_tokens".
  hf_decoder decoder;            ///< tokenizer.json "decoder".
  std::vector<token_id> prefix;  ///< Prompt prefix (post_processor + add_bos_token).
  std::optional<token_id> bos;   ///< Beginning-of-sequence id.
  std::optional<token_id> eos;   ///< End-of-sequence id.
  size_t vocab_size = 0;         ///< One past the largest id.

  /// The full encode pipeline; `match_special` lets special added tokens match. Any thread.
  std::vector<token_id> encode(std::string_view text, bool match_special) const;

  /// The decode pipeline; unknown ids decode as U+FFFD. Any thread.
  std::string decode(std::span<const token_id> ids, bool skip_special) const;
};

/// A decode stream over `s` (see decode_stream). The stream shares ownership of `s`.
std::unique_ptr<decode_stream> make_hf_decode_stream(std::shared_ptr<const hf_tokenizer::state> s,
                                                     bool skip_special);

} // namespace dynamo::tokenizer
