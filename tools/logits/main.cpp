// dynamo-logits: runs the reference model_runner on a token prompt and prints, as JSON lines,
// the logits after the prompt and after each of K greedy decode steps (for the golden test).
#include "dynamo/error.hpp"
#include "dynamo/log.hpp"
#include "dynamo/model/checkpoint.hpp"
#include "dynamo/reference/kernels.hpp"
#include "dynamo/reference/model_runner.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view usage = R"(usage: dynamo-logits --model DIR --tokens ID,ID,... [options]

Prefills the prompt, then runs K greedy decode steps, printing one JSON object per line:
  {"step":0,"kind":"prefill","position":P,"input":[ids],"token":T,"logits":[...]}
  {"step":i,"kind":"decode","position":P,"input":[id],"token":T,"logits":[...]}
where "token" is the argmax of "logits" and is the next step's input.

options:
  --model DIR     Hugging Face checkpoint directory (config.json + *.safetensors)
  --tokens LIST   comma-separated prompt token ids (at least one)
  --decode K      greedy decode steps after the prefill (default 0)
  --chunk N       prefill in chunks of N tokens (default: the whole prompt at once)
  --threads N     compute threads (default: one per CPU)
  --block-size N  KV block size in tokens (default 16)
  --help          this text
)";

struct options {
  std::string model;
  std::vector<uint32_t> tokens;
  uint32_t decode = 0;
  uint32_t chunk = 0;
  uint32_t threads = 0;
  uint32_t block_size = 16;
};

int usage_error(const std::string& what) {
  fmt::print(stderr, "dynamo-logits: {}\n(see dynamo-logits --help)\n", what);
  return 2;
}

std::optional<uint32_t> parse_u32(std::string_view s) {
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty())
    return std::nullopt;
  return v;
}

std::optional<std::vector<uint32_t>> parse_tokens(std::string_view s) {
  std::vector<uint32_t> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    auto id = parse_u32(s.substr(0, comma));
    if (!id)
      return std::nullopt;
    out.push_back(*id);
    if (comma == std::string_view::npos)
      break;
    s.remove_prefix(comma + 1);
    if (s.empty())
      return std::nullopt;
  }
  return out;
}

// Parses argv; returns an exit code when the program should stop (help or usage error).
std::optional<int> parse(int argc, char** argv, options& opts) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage);
      return 0;
    }
    if (i + 1 >= argc)
      return usage_error(fmt::format("unknown option or missing value: {}", arg));
    std::string_view value = argv[++i];
    if (arg == "--model") {
      opts.model = value;
    } else if (arg == "--tokens") {
      auto t = parse_tokens(value);
      if (!t || t->empty())
        return usage_error(fmt::format("--tokens wants comma-separated ids, got '{}'", value));
      opts.tokens = std::move(*t);
    } else {
      auto n = parse_u32(value);
      if (!n)
        return usage_error(fmt::format("{} wants a non-negative integer, got '{}'", arg, value));
      if (arg == "--decode")
        opts.decode = *n;
      else if (arg == "--chunk")
        opts.chunk = *n;
      else if (arg == "--threads")
        opts.threads = *n;
      else if (arg == "--block-size" && *n > 0)
        opts.block_size = *n;
      else
        return usage_error(fmt::format("unknown option {} (or bad value {})", arg, value));
    }
  }
  if (opts.model.empty())
    return usage_error("--model is required");
  if (opts.tokens.empty())
    return usage_error("--tokens is required");
  return std::nullopt;
}

void print_step(uint32_t step, const char* kind, uint32_t position,
                std::span<const uint32_t> input, uint32_t token, std::span<const float> logits) {
  std::string line = fmt::format(R"({{"step":{},"kind":"{}","position":{},"input":[{}],)"
                                 R"("token":{},"logits":[)",
                                 step, kind, position, fmt::join(input, ","), token);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (i > 0)
      line += ',';
    fmt::format_to(std::back_inserter(line), "{:.9g}", logits[i]);
  }
  line += "]}\n";
  std::fputs(line.c_str(), stdout);
}

} // namespace

int main(int argc, char** argv) {
  using namespace dynamo;
  options opts;
  if (auto rc = parse(argc, argv, opts))
    return *rc;
  auto log = default_logger("logits");
  log->set_level(spdlog::level::warn);
  auto ckpt = model::open_checkpoint(opts.model);
  if (!ckpt) {
    fmt::print(stderr, "dynamo-logits: {}\n", describe(ckpt.error()));
    return 1;
  }
  const auto& cfg = ckpt->config;
  for (auto t : opts.tokens)
    if (t >= cfg.vocab_size)
      return usage_error(fmt::format("token {} is outside the vocabulary of {}", t,
                                     cfg.vocab_size));
  uint64_t total = uint64_t{opts.tokens.size()} + opts.decode;
  reference::runner_options ro;
  ro.threads = opts.threads;
  ro.block_size = opts.block_size;
  ro.kv_blocks = (total + opts.block_size - 1) / opts.block_size;
  auto runner = reference::model_runner::load(*ckpt, ro, log);
  if (!runner) {
    fmt::print(stderr, "dynamo-logits: {}\n", describe(runner.error()));
    return 1;
  }
  auto& r = **runner;
  if (total > r.config().max_position_embeddings)
    return usage_error(fmt::format("{} positions exceed the model's {}", total,
                                   r.config().max_position_embeddings));
  std::vector<uint32_t> table(ro.kv_blocks);
  for (uint32_t i = 0; i < table.size(); ++i)
    table[i] = i;
  std::vector<float> logits;
  const std::span<const uint32_t> prompt{opts.tokens};
  const size_t chunk = opts.chunk == 0 ? prompt.size() : opts.chunk;
  for (size_t pos = 0; pos < prompt.size(); pos += chunk) {
    auto part = prompt.subspan(pos, std::min(chunk, prompt.size() - pos));
    reference::forward_item it{part, static_cast<uint32_t>(pos), table,
                               pos + part.size() == prompt.size()};
    r.forward({&it, 1}, logits);
  }
  auto next = static_cast<uint32_t>(reference::argmax(logits.data(), logits.size()));
  auto position = static_cast<uint32_t>(prompt.size());
  print_step(0, "prefill", position - 1, prompt, next, logits);
  for (uint32_t step = 1; step <= opts.decode; ++step, ++position) {
    uint32_t input = next;
    reference::forward_item it{{&input, 1}, position, table, true};
    r.forward({&it, 1}, logits);
    next = static_cast<uint32_t>(reference::argmax(logits.data(), logits.size()));
    print_step(step, "decode", position, {&input, 1}, next, logits);
  }
  return 0;
}
