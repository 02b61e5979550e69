#include "dynamo/model/synth_tokenizer.hpp"

#include "dynamo/error.hpp"
#include "dynamo/model/corpus.hpp"
#include "dynamo/tokenizer/bpe_trainer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace dynamo::model {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::string_view chatml =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
  "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
  "'<|im_start|>assistant\\n' }}{% endif %}";

constexpr std::string_view llama2 =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
  "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
  "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
  "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
  "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message "
  "!= false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
  "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
  "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
  "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
  "endfor %}";

caf::error invalid(std::string message, std::string detail = {}) {
  return make_error(errc::invalid_request, fmt::format("synth: {}", message), std::move(detail));
}

/// Token contents -> ids, from the model vocabulary and the added tokens of tokenizer.json.
struct vocabulary {
  std::map<std::string, uint32_t> added;
  uint32_t size = 0;  // one past the largest id
};

caf::expected<vocabulary> inspect(const std::string& tokenizer_json) {
  vocabulary out;
  try {
    auto doc = nlohmann::json::parse(tokenizer_json);
    for (const auto& [token, id] : doc.at("model").at("vocab").items())
      out.size = std::max(out.size, id.get<uint32_t>() + 1);
    for (const auto& added : doc.at("added_tokens")) {
      const auto id = added.at("id").get<uint32_t>();
      out.added.emplace(added.at("content").get<std::string>(), id);
      out.size = std::max(out.size, id + 1);
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid("the trained tokenizer.json is malformed", e.what());
  }
  return out;
}

ordered_json added_tokens_decoder(const std::vector<std::string>& specials,
                                  const vocabulary& vocab) {
  ordered_json out = ordered_json::object();
  for (const auto& content : specials)
    out[std::to_string(vocab.added.at(content))] = {
      {"content", content}, {"lstrip", false},  {"normalized", false},
      {"rstrip", false},    {"single_word", false}, {"special", true}};
  return out;
}

} // namespace

std::string_view chatml_template() noexcept {
  return chatml;
}

std::string_view llama2_template() noexcept {
  return llama2;
}

caf::expected<synth_tokenizer_files> make_synth_tokenizer(const synth_spec& spec) {
  const bool byte_level = spec.tokenizer == "byte_level";
  tokenizer::bpe_training opts;
  opts.style = byte_level ? tokenizer::bpe_style::byte_level : tokenizer::bpe_style::sentencepiece;
  opts.vocab_size = spec.vocab;
  opts.special_tokens = byte_level
                          ? std::vector<std::string>{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
                          : std::vector<std::string>{"<unk>", "<s>", "</s>"};
  auto trained = tokenizer::train_bpe(training_corpus(), opts);
  if (!trained)
    return invalid(fmt::format("cannot train a {} tokenizer of {} tokens: {}", spec.tokenizer,
                               spec.vocab, client_message(trained.error())),
                   operator_detail(trained.error()));
  auto vocab = inspect(*trained);
  if (!vocab)
    return std::move(vocab.error());
  for (const auto& special : opts.special_tokens)
    if (!vocab->added.contains(special))
      return invalid(fmt::format("the trained tokenizer lacks the special token {}", special));
  if (vocab->size > spec.vocab)
    return invalid(fmt::format("the trained tokenizer has {} tokens, more than vocab {}",
                               vocab->size, spec.vocab));

  synth_tokenizer_files files;
  files.tokenizer_json = std::move(*trained);
  files.vocab_used = vocab->size;
  ordered_json config;
  ordered_json special_map;
  if (byte_level) {
    const uint32_t endoftext = vocab->added.at("<|endoftext|>");
    files.bos = endoftext;
    files.eos = {vocab->added.at("<|im_end|>"), endoftext};
    config["add_bos_token"] = false;
    config["add_eos_token"] = false;
    config["added_tokens_decoder"] = added_tokens_decoder(opts.special_tokens, *vocab);
    config["additional_special_tokens"] = {"<|im_start|>", "<|im_end|>"};
    config["bos_token"] = "<|endoftext|>";
    config["chat_template"] = chatml;
    config["clean_up_tokenization_spaces"] = false;
    config["eos_token"] = "<|endoftext|>";
    config["model_max_length"] = spec.context;
    config["pad_token"] = "<|endoftext|>";
    config["tokenizer_class"] = "PreTrainedTokenizerFast";
    config["unk_token"] = nullptr;
    special_map["additional_special_tokens"] = {"<|im_start|>", "<|im_end|>"};
    special_map["bos_token"] = "<|endoftext|>";
    special_map["eos_token"] = "<|endoftext|>";
    special_map["pad_token"] = "<|endoftext|>";
  } else {
    files.bos = vocab->added.at("<s>");
    files.eos = {vocab->added.at("</s>")};
    config["add_bos_token"] = true;
    config["add_eos_token"] = false;
    config["added_tokens_decoder"] = added_tokens_decoder(opts.special_tokens, *vocab);
    config["bos_token"] = "<s>";
    config["chat_template"] = llama2;
    config["clean_up_tokenization_spaces"] = false;
    config["eos_token"] = "</s>";
    config["legacy"] = false;
    config["model_max_length"] = spec.context;
    config["pad_token"] = nullptr;
    config["tokenizer_class"] = "LlamaTokenizerFast";
    config["unk_token"] = "<unk>";
    special_map["bos_token"] = "<s>";
    special_map["eos_token"] = "</s>";
    special_map["unk_token"] = "<unk>";
  }
  files.tokenizer_config_json = config.dump(2) + "\n";
  files.special_tokens_map_json = special_map.dump(2) + "\n";
  return files;
}

} // namespace dynamo::model
