#include "options.hpp"

#include "dynamo/parse_number.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace dynamo::generate_tool {

const std::string_view usage = R"(usage:
  dynamo-generate --model DIR (--prompt TEXT | --tokens ID,ID,...) [options]

Runs the reference CPU engine on a prompt and streams the generated text to stdout; a stats
line (prefill and decode throughput) goes to stderr.

  --model DIR         Hugging Face checkpoint directory (config.json, *.safetensors and,
                      for --prompt, tokenizer.json)
  --prompt TEXT       prompt text, encoded with the model's tokenizer (BOS added as the
                      tokenizer's post-processor does; special-token text is recognised)
  --tokens LIST       prompt as comma-separated token ids
  --max-tokens N      tokens to generate per sequence (default 64)
  --temperature T     0 = greedy (default 0)
  --top-p P           nucleus sampling mass in (0, 1] (default 1)
  --top-k K           keep the K most likely tokens, 0 = all (default 0)
  --seed S            sampling seed (sequence i of a batch uses S + i)
  --ignore-eos        keep generating past the model's EOS tokens
  --batch N           generate N sequences for the prompt together (default 1)
  --threads N         compute threads, 0 = one per CPU (default 0)
  --block-size N      KV block size in tokens (default 16)
  --kv-cache-mib N    upper bound of the KV cache in MiB (default 1024)
  --log-level LEVEL   trace, debug, info, warn, error or off (default warn)
  --help              this text
)";

namespace {

std::optional<std::vector<uint32_t>> parse_token_list(std::string_view text) {
  std::vector<uint32_t> out;
  while (true) {
    const auto comma = text.find(',');
    auto id = parse_integer<uint32_t>(text.substr(0, comma));
    if (!id)
      return std::nullopt;
    out.push_back(*id);
    if (comma == std::string_view::npos)
      return out;
    text.remove_prefix(comma + 1);
  }
}

usage_error bad_value(std::string_view flag, std::string_view wanted, std::string_view got) {
  return {fmt::format("{} expects {}, got '{}'", flag, wanted, got)};
}

} // namespace

std::variant<options, show_help, usage_error> parse_options(int argc, const char* const* argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h")
      return show_help{};
    if (flag == "--ignore-eos") {
      opts.ignore_eos = true;
      continue;
    }
    if (!flag.starts_with("--"))
      return usage_error{fmt::format("unexpected argument '{}'", flag)};
    if (i + 1 >= argc)
      return usage_error{fmt::format("{} needs a value (or is unknown)", flag)};
    const std::string_view value = argv[++i];
    if (flag == "--model") {
      opts.model = value;
    } else if (flag == "--prompt") {
      opts.prompt = std::string{value};
    } else if (flag == "--tokens") {
      auto ids = parse_token_list(value);
      if (!ids)
        return bad_value(flag, "comma-separated token ids", value);
      opts.tokens = std::move(*ids);
    } else if (flag == "--max-tokens") {
      auto n = parse_integer<uint32_t>(value);
      if (!n || *n == 0)
        return bad_value(flag, "a positive integer", value);
      opts.max_tokens = *n;
    } else if (flag == "--temperature") {
      auto t = parse_finite<float>(value);
      if (!t || *t < 0.0f)
        return bad_value(flag, "a number >= 0", value);
      opts.temperature = *t;
    } else if (flag == "--top-p") {
      auto p = parse_finite<float>(value);
      if (!p || *p <= 0.0f || *p > 1.0f)
        return bad_value(flag, "a number in (0, 1]", value);
      opts.top_p = *p;
    } else if (flag == "--top-k") {
      auto k = parse_integer<int32_t>(value);
      if (!k || *k < 0)
        return bad_value(flag, "an integer >= 0", value);
      opts.top_k = *k;
    } else if (flag == "--seed") {
      auto s = parse_integer<uint64_t>(value);
      if (!s)
        return bad_value(flag, "an unsigned 64-bit integer", value);
      opts.seed = *s;
    } else if (flag == "--threads") {
      auto n = parse_integer<uint32_t>(value);
      if (!n || *n > 1024)
        return bad_value(flag, "an integer in [0, 1024]", value);
      opts.threads = *n;
    } else if (flag == "--batch") {
      auto n = parse_integer<uint32_t>(value);
      if (!n || *n == 0 || *n > 4096)
        return bad_value(flag, "an integer in [1, 4096]", value);
      opts.batch = *n;
    } else if (flag == "--block-size") {
      auto n = parse_integer<uint32_t>(value);
      if (!n || *n == 0 || *n > 1024)
        return bad_value(flag, "an integer in [1, 1024]", value);
      opts.block_size = *n;
    } else if (flag == "--kv-cache-mib") {
      auto n = parse_integer<uint64_t>(value);
      if (!n || *n == 0 || *n > (std::numeric_limits<uint64_t>::max() >> 20))
        return bad_value(flag, "a positive integer", value);
      opts.kv_cache_mib = *n;
    } else if (flag == "--log-level") {
      if (value != "trace" && value != "debug" && value != "info" && value != "warn"
          && value != "error" && value != "off")
        return bad_value(flag, "trace, debug, info, warn, error or off", value);
      opts.log_level = value;
    } else {
      return usage_error{fmt::format("unknown option {}", flag)};
    }
  }
  if (opts.model.empty())
    return usage_error{"--model is required"};
  if (opts.prompt.has_value() == !opts.tokens.empty())
    return usage_error{"give exactly one of --prompt and --tokens"};
  if (opts.prompt && opts.prompt->empty())
    return usage_error{"--prompt must not be empty"};
  return opts;
}

} // namespace dynamo::generate_tool
