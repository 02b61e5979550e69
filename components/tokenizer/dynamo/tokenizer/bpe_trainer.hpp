// Trains small byte-pair-encoding tokenizers and writes them as Hugging Face tokenizer.json,
// for synthetic checkpoints and tests.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::tokenizer {

/// The tokenizer family a trained BPE imitates.
enum class bpe_style : uint8_t {
  byte_level,     ///< GPT-2 / Llama 3 / Qwen2: regex split + byte-level alphabet, NFC.
  sentencepiece,  ///< Llama 2: "▁" for spaces, byte fallback <0xNN>, <s> prefix.
};

/// Options of train_bpe.
struct bpe_training {
  bpe_style style = bpe_style::byte_level;  ///< Family to imitate.
  uint32_t vocab_size = 512;                ///< Total incl. base alphabet and specials.
  std::vector<std::string> special_tokens;  ///< Added first, ids 0..n-1, special=true.
};

/// Trains BPE on `corpus` deterministically; returns tokenizer.json text that both this
/// module's loader and the HF `tokenizers` package load. The vocabulary has at most
/// `vocab_size` entries (fewer when the corpus runs out of pairs to merge). Invalid UTF-8 in
/// the corpus is replaced by U+FFFD. Occurrences of special tokens in the corpus are not
/// learned from. Any thread. Errors: invalid_request (vocab_size below specials + alphabet,
/// empty, duplicate or ill-formed special tokens).
caf::expected<std::string> train_bpe(std::string_view corpus, const bpe_training& opts);

} // namespace dynamo::tokenizer
