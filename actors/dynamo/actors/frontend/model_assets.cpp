#include "dynamo/actors/frontend/model_assets.hpp"

#include "dynamo/error.hpp"
#include "dynamo/jinja/hf_chat_template.hpp"
#include "dynamo/tokenizer/byte_tokenizer.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include <chrono>
#include <fstream>
#include <sstream>

namespace dynamo::actors {

std::shared_ptr<const model_assets> builtin_model_assets() {
  auto assets = std::make_shared<model_assets>();
  assets->tok = std::make_shared<tokenizer::byte_tokenizer>();
  assets->chat = std::make_shared<tokenizer::simple_chat_template>();
  assets->source = "builtin";
  return assets;
}

caf::expected<std::shared_ptr<const model_assets>>
load_model_assets(const std::filesystem::path& dir, const logger_ptr& log) {
  const auto started = std::chrono::steady_clock::now();
  const auto config_path = dir / "tokenizer_config.json";
  std::error_code ec;
  const bool has_config = std::filesystem::is_regular_file(config_path, ec);
  auto tok = tokenizer::load_hf_tokenizer(dir / "tokenizer.json",
                                          has_config ? config_path : std::filesystem::path{});
  if (!tok)
    return std::move(tok.error());
  auto assets = std::make_shared<model_assets>();
  assets->tok = std::move(*tok);
  assets->source = dir.string();
  if (has_config) {
    std::ifstream in{config_path, std::ios::binary};
    std::ostringstream text;
    text << in.rdbuf();
    auto chat = jinja::load_hf_chat_template(text.str());
    if (chat)
      assets->chat = std::move(*chat);
    else
      log->warn("model {}: no usable chat template ({}): chat requests will be refused",
                dir.string(), describe(chat.error()));
  } else {
    log->warn("model {}: no tokenizer_config.json: chat requests will be refused", dir.string());
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  log->info("loaded tokenizer ({} tokens) and {} chat template from {} in {} ms",
            assets->tok->vocab_size(), assets->chat ? "a" : "no", dir.string(), ms.count());
  return std::shared_ptr<const model_assets>{std::move(assets)};
}

caf::expected<std::shared_ptr<const model_assets>>
model_assets_cache::get(const std::string& dir, const logger_ptr& log) {
  if (auto i = entries_.find(dir); i != entries_.end())
    return i->second;
  auto loaded = load_model_assets(dir, log);
  entries_.emplace(dir, loaded);
  return loaded;
}

} // namespace dynamo::actors
