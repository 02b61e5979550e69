// What a frontend needs per served model to turn requests into tokens and tokens into text:
// the model's tokenizer and chat template, loaded from the checkpoint directory a worker
// publishes in its registration (or builtin ones for a model without files).
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/tokenizer/chat_template.hpp"
#include "dynamo/tokenizer/tokenizer.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace dynamo::actors {

/// A model's tokenizer and chat template. Immutable; shared by every request of the model.
struct model_assets {
  std::shared_ptr<const tokenizer::tokenizer> tok;  ///< Never null.
  /// Null when the model has no chat template (chat requests are refused with a 400).
  std::shared_ptr<const tokenizer::chat_template> chat;
  std::string source;  ///< Where they came from ("builtin" or the directory), for logs.
};

/// The byte-level tokenizer and the simple chat template, for models registered without files.
std::shared_ptr<const model_assets> builtin_model_assets();

/// Loads tokenizer.json and tokenizer_config.json (its chat_template) from a checkpoint
/// directory. A missing or unusable chat template leaves `chat` null (logged). Errors:
/// invalid_request naming the file when the tokenizer cannot be loaded. Blocking file I/O.
caf::expected<std::shared_ptr<const model_assets>>
load_model_assets(const std::filesystem::path& dir, const logger_ptr& log);

/// Loaded assets by directory, so that replicas of a model share one tokenizer and a
/// directory that failed is not retried for every registration. Not thread-safe (one owner).
class model_assets_cache {
public:
  /// The assets of `dir`, loading them on first use; the same error again for a directory
  /// that failed before.
  caf::expected<std::shared_ptr<const model_assets>> get(const std::string& dir,
                                                          const logger_ptr& log);

private:
  std::map<std::string, caf::expected<std::shared_ptr<const model_assets>>> entries_;
};

} // namespace dynamo::actors
