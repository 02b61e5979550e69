#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/hf_json.hpp"
#include "dynamo/tokenizer/hf_state.hpp"
#include "dynamo/tokenizer/post_processor.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

namespace dynamo::tokenizer {

namespace {

using json = nlohmann::json;

constexpr std::string_view replacement_token = "\xEF\xBF\xBD";

/// Specials that name BOS / EOS when tokenizer_config.json does not say.
constexpr std::array<std::string_view, 3> bos_names = {"<s>", "<|begin_of_text|>",
                                                       "<|startoftext|>"};
constexpr std::array<std::string_view, 4> eos_names = {"</s>", "<|end_of_text|>",
                                                       "<|endoftext|>", "<|im_end|>"};

caf::expected<std::vector<added_token>> parse_added(const json& doc) {
  std::vector<added_token> tokens;
  auto list = doc.find("added_tokens");
  if (list == doc.end() || list->is_null())
    return tokens;
  if (!list->is_array())
    return malformed("added_tokens", "expected an array");
  for (const auto& t : *list) {
    added_token token;
    auto id = token_id_of(t.at("id"), "added_tokens");
    if (!id)
      return std::move(id.error());
    token.id = *id;
    token.content = t.at("content").get<std::string>();
    token.special = bool_or(t, "special", false);
    token.lstrip = bool_or(t, "lstrip", false);
    token.rstrip = bool_or(t, "rstrip", false);
    token.single_word = bool_or(t, "single_word", false);
    token.normalized = bool_or(t, "normalized", !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

/// A token named by tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> config_token(const json& node) {
  if (node.is_string())
    return node.get<std::string>();
  if (node.is_object() && node.contains("content"))
    return node.at("content").get<std::string>();
  return std::nullopt;
}

/// Resolves BOS or EOS: tokenizer_config.json when it has `key`, else the first special of
/// `fallback` the vocabulary has.
template <size_t N>
std::optional<token_id> special_id(const hf_tokenizer& tok, const json& config,
                                   std::string_view key,
                                   const std::array<std::string_view, N>& fallback) {
  if (config.is_object())
    if (auto i = config.find(key); i != config.end()) {
      auto name = config_token(*i);
      return name ? tok.token_to_id(*name) : std::nullopt;
    }
  for (auto name : fallback)
    if (auto id = tok.token_to_id(name); id && tok.is_special(*id))
      return id;
  return std::nullopt;
}

caf::expected<std::shared_ptr<hf_tokenizer::state>> build(const json& doc) {
  if (!doc.is_object())
    return malformed("tokenizer.json", "expected an object");
  auto s = std::make_shared<hf_tokenizer::state>();
  auto model = bpe_model::from_json(doc.contains("model") ? doc.at("model") : json{});
  if (!model)
    return std::move(model.error());
  s->model = std::move(*model);
  auto norm = normalizer::from_json(doc.value("normalizer", json{}));
  if (!norm)
    return std::move(norm.error());
  s->normalize = std::move(*norm);
  auto pre = pre_tokenizer::from_json(doc.value("pre_tokenizer", json{}));
  if (!pre)
    return std::move(pre.error());
  s->pre_tokenize = std::move(*pre);
  auto dec = hf_decoder::from_json(doc.value("decoder", json{}));
  if (!dec)
    return std::move(dec.error());
  s->decoder = std::move(*dec);
  auto prefix = prompt_prefix_from_json(doc.value("post_processor", json{}));
  if (!prefix)
    return std::move(prefix.error());
  s->prefix = std::move(*prefix);
  auto tokens = parse_added(doc);
  if (!tokens)
    return std::move(tokens.error());
  const auto& norm_ref = s->normalize;
  auto added = added_vocabulary::create(
    std::move(*tokens), [&norm_ref](const std::string& content) { return norm_ref.apply(content); });
  if (!added)
    return std::move(added.error());
  s->added = std::move(*added);
  s->vocab_size = s->model.id_bound();
  for (const auto& t : s->added.tokens())
    s->vocab_size = std::max(s->vocab_size, static_cast<size_t>(t.id) + 1);
  for (auto id : s->prefix)
    if (id >= s->vocab_size)
      return malformed("post_processor", fmt::format("id {} is outside the vocabulary", id));
  return s;
}

caf::expected<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::invalid_request, fmt::format("cannot read {}", path.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

} // namespace

std::vector<token_id> hf_tokenizer::state::encode(std::string_view input,
                                                  bool match_special) const {
  std::string repaired;
  if (!is_valid_utf8(input)) {
    repaired = sanitize_utf8(input);
    input = repaired;
  }
  std::vector<token_id> ids;
  std::vector<text_piece> pieces;
  for (const auto& raw : added.split(input, false, match_special)) {
    if (raw.token) {
      ids.push_back(*raw.token);
      continue;
    }
    auto normalized_text = normalize.apply(input.substr(raw.start, raw.end - raw.start));
    for (const auto& part : added.split(normalized_text, true, match_special)) {
      if (part.token) {
        ids.push_back(*part.token);
        continue;
      }
      if (part.end == part.start)
        continue;
      pieces.clear();
      pieces.push_back({normalized_text.substr(part.start, part.end - part.start),
                        raw.start == 0 && part.start == 0});
      pre_tokenize.apply(pieces);
      for (const auto& piece : pieces)
        model.encode_word(piece.text, ids);
    }
  }
  return ids;
}

std::string hf_tokenizer::state::decode(std::span<const token_id> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (auto id : ids) {
    if (const auto* t = added.find(id)) {
      if (!(skip_special && t->special))
        tokens.push_back(t->content);
    } else if (const auto* s = model.id_to_token(id)) {
      tokens.push_back(*s);
    } else {
      tokens.emplace_back(replacement_token);
    }
  }
  return decoder.decode(std::move(tokens));
}

hf_tokenizer::hf_tokenizer(std::shared_ptr<const state> s) : state_(std::move(s)) {
}

hf_tokenizer::~hf_tokenizer() = default;

std::vector<token_id> hf_tokenizer::encode(std::string_view text) const {
  return state_->encode(text, false);
}

std::vector<token_id> hf_tokenizer::encode_special(std::string_view text) const {
  return state_->encode(text, true);
}

std::vector<token_id> hf_tokenizer::prompt_prefix() const {
  return state_->prefix;
}

std::string hf_tokenizer::decode(std::span<const token_id> tokens, bool skip_special) const {
  return state_->decode(tokens, skip_special);
}

size_t hf_tokenizer::vocab_size() const noexcept {
  return state_->vocab_size;
}

std::optional<token_id> hf_tokenizer::eos_token_id() const noexcept {
  return state_->eos;
}

std::optional<token_id> hf_tokenizer::bos_token_id() const noexcept {
  return state_->bos;
}

std::unique_ptr<decode_stream> hf_tokenizer::make_decode_stream(bool skip_special) const {
  return make_hf_decode_stream(state_, skip_special);
}

std::optional<token_id> hf_tokenizer::token_to_id(std::string_view token) const {
  if (const auto* t = state_->added.find(token))
    return t->id;
  return state_->model.token_to_id(token);
}

std::optional<std::string> hf_tokenizer::id_to_token(token_id id) const {
  if (const auto* t = state_->added.find(id))
    return t->content;
  if (const auto* s = state_->model.id_to_token(id))
    return *s;
  return std::nullopt;
}

bool hf_tokenizer::is_special(token_id id) const noexcept {
  const auto* t = state_->added.find(id);
  return t != nullptr && t->special;
}

caf::expected<std::shared_ptr<const hf_tokenizer>>
parse_hf_tokenizer(std::string_view tokenizer_json, std::string_view tokenizer_config_json) {
  try {
    auto doc = json::parse(tokenizer_json);
    auto config = tokenizer_config_json.empty() ? json{} : json::parse(tokenizer_config_json);
    if (!config.is_null() && !config.is_object())
      return malformed("tokenizer_config.json", "expected an object");
    auto s = build(doc);
    if (!s)
      return std::move(s.error());
    // BOS/EOS need the finished vocabulary: resolve them through a provisional tokenizer.
    hf_tokenizer provisional{*s};
    (*s)->bos = special_id(provisional, config, "bos_token", bos_names);
    (*s)->eos = special_id(provisional, config, "eos_token", eos_names);
    if (config.is_object()) {
      if (auto add_bos = config.find("add_bos_token"); add_bos != config.end()
                                                       && add_bos->is_boolean() && (*s)->bos) {
        auto& prefix = (*s)->prefix;
        auto bos = *(*s)->bos;
        bool has = std::find(prefix.begin(), prefix.end(), bos) != prefix.end();
        if (add_bos->get<bool>() && !has)
          prefix.insert(prefix.begin(), bos);
        else if (!add_bos->get<bool>())
          prefix.erase(std::remove(prefix.begin(), prefix.end(), bos), prefix.end());
      }
    }
    return std::make_shared<const hf_tokenizer>(std::move(*s));
  } catch (const nlohmann::json::exception& e) {
    return make_error(errc::invalid_request, "malformed tokenizer JSON", e.what());
  }
}

caf::expected<std::shared_ptr<const tokenizer>>
load_hf_tokenizer(const std::filesystem::path& tokenizer_json,
                  const std::filesystem::path& tokenizer_config_json) {
  std::error_code ec;
  auto file = tokenizer_json;
  if (std::filesystem::is_directory(file, ec))
    file /= "tokenizer.json";
  if (!std::filesystem::is_regular_file(file, ec))
    return make_error(errc::not_found, fmt::format("no tokenizer.json at {}", file.string()));
  auto config_path = tokenizer_config_json;
  if (config_path.empty())
    config_path = file.parent_path() / "tokenizer_config.json";
  auto text = read_file(file);
  if (!text)
    return std::move(text.error());
  std::string config;
  if (std::filesystem::is_regular_file(config_path, ec)) {
    auto config_text = read_file(config_path);
    if (!config_text)
      return std::move(config_text.error());
    config = std::move(*config_text);
  }
  auto parsed = parse_hf_tokenizer(*text, config);
  if (!parsed)
    return std::move(parsed.error());
  return std::shared_ptr<const tokenizer>{std::move(*parsed)};
}

} // namespace dynamo::tokenizer
