// Command line of dynamo-generate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dynamo::generate_tool {

/// The help text.
extern const std::string_view usage;

/// What the user asked for.
struct options {
  std::string model;                    ///< Checkpoint directory (required).
  std::optional<std::string> prompt;    ///< Prompt text (needs the model's tokenizer).
  std::vector<uint32_t> tokens;         ///< Prompt token ids (instead of --prompt).
  uint32_t max_tokens = 64;
  float temperature = 0.0f;             ///< 0 = greedy.
  float top_p = 1.0f;
  int32_t top_k = 0;
  std::optional<uint64_t> seed;
  uint32_t threads = 0;                 ///< 0 = one per CPU.
  uint32_t batch = 1;                   ///< Copies of the prompt generated together.
  bool ignore_eos = false;
  uint32_t block_size = 16;
  uint64_t kv_cache_mib = 1024;
  std::string log_level = "warn";
};

/// --help was given: print usage and exit 0.
struct show_help {};

/// A usage error with its message: exit 2.
struct usage_error {
  std::string message;
};

/// Parses argv (argv[0] is skipped). Main thread.
std::variant<options, show_help, usage_error> parse_options(int argc, const char* const* argv);

} // namespace dynamo::generate_tool
