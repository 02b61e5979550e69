// dynamo-synth: writes a small random Llama-family checkpoint in the Hugging Face layout, or
// inspects an existing one (--inspect), printing a summary and optionally per-tensor stats.
#include "dynamo/error.hpp"
#include "dynamo/log.hpp"
#include "dynamo/model/checkpoint.hpp"
#include "dynamo/model/synthesize.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace model = dynamo::model;

constexpr std::string_view usage = R"(usage: dynamo-synth --out DIR [options]
       dynamo-synth --inspect DIR [--dump-stats]

Writes a small random Llama-family model (config.json, generation_config.json, safetensors
weights, tokenizer.json, tokenizer_config.json) in exactly the Hugging Face layout.

options:
  --out DIR             output directory (must be absent or empty unless --force)
  --preset NAME         tiny (default) or small-100m; the options below override it
  --layers N            decoder layers
  --hidden N            hidden size
  --heads N             attention heads
  --kv-heads N          key/value heads
  --intermediate N      MLP size
  --vocab N             config vocab_size (>= the trained tokenizer's vocabulary)
  --context N           max_position_embeddings
  --seed N              random seed of the weights
  --arch A              llama, qwen2 or mistral
  --dtype T             f32, f16 or bf16
  --tokenizer T         byte_level or sentencepiece
  --rope R              none or llama3
  --untied              write a separate lm_head.weight
  --shards N            split the weights over N files with an index
  --force               replace a non-empty output directory
  --dump-stats          print "tensor NAME DTYPE SHAPE SUM SUMSQ" for every tensor
  --inspect DIR         open an existing checkpoint instead of writing one
  --quiet               log warnings only
  --help                show this text
)";

struct options {
  model::synth_spec spec;
  std::string out;
  std::string inspect;
  bool dump_stats = false;
  bool quiet = false;
};

struct usage_error {
  std::string message;
};

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

/// Parses argv; returns a usage_error message on bad input, nullopt for --help.
std::variant<options, usage_error, std::monostate> parse_args(int argc, char** argv) {
  options opts;
  std::optional<std::string> preset;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h")
      return std::monostate{};
    if (arg == "--force") {
      opts.spec.overwrite = true;
      continue;
    }
    if (arg == "--untied" || arg == "--dump-stats" || arg == "--quiet") {
      overrides.emplace_back(std::string{arg}, "");
      continue;
    }
    if (!arg.starts_with("--"))
      return usage_error{fmt::format("unexpected argument '{}'", arg)};
    constexpr std::string_view with_value[] = {
      "--out",   "--inspect", "--preset", "--layers", "--hidden", "--heads", "--kv-heads",
      "--intermediate", "--vocab", "--context", "--seed", "--arch", "--dtype", "--tokenizer",
      "--rope",  "--shards"};
    if (std::find(std::begin(with_value), std::end(with_value), arg) == std::end(with_value))
      return usage_error{fmt::format("unknown option {}", arg)};
    if (i + 1 >= argc)
      return usage_error{fmt::format("{} needs a value", arg)};
    const std::string value = argv[++i];
    if (arg == "--out")
      opts.out = value;
    else if (arg == "--inspect")
      opts.inspect = value;
    else if (arg == "--preset")
      preset = value;
    else
      overrides.emplace_back(std::string{arg}, value);
  }
  if (preset) {
    auto spec = model::synth_preset(*preset);
    if (!spec)
      return usage_error{dynamo::client_message(spec.error())};
    const bool overwrite = opts.spec.overwrite;
    opts.spec = *spec;
    opts.spec.overwrite = overwrite;
  }
  auto& s = opts.spec;
  const std::map<std::string_view, uint32_t*> counts{
    {"--layers", &s.layers}, {"--hidden", &s.hidden},   {"--heads", &s.heads},
    {"--kv-heads", &s.kv_heads}, {"--intermediate", &s.intermediate}, {"--vocab", &s.vocab},
    {"--context", &s.context},   {"--shards", &s.shards},
  };
  for (const auto& [flag, value] : overrides) {
    if (flag == "--untied") {
      s.tie_word_embeddings = false;
    } else if (flag == "--dump-stats") {
      opts.dump_stats = true;
    } else if (flag == "--quiet") {
      opts.quiet = true;
    } else if (auto c = counts.find(flag); c != counts.end()) {
      auto n = parse_number<uint32_t>(value);
      if (!n || *n == 0)
        return usage_error{fmt::format("{} needs a positive integer, got '{}'", flag, value)};
      *c->second = *n;
    } else if (flag == "--seed") {
      auto n = parse_number<uint64_t>(value);
      if (!n)
        return usage_error{fmt::format("--seed needs a non-negative integer, got '{}'", value)};
      s.seed = *n;
    } else if (flag == "--arch") {
      const std::map<std::string, std::string> archs{
        {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"},
        {"mistral", "MistralForCausalLM"}};
      auto a = archs.find(value);
      if (a == archs.end())
        return usage_error{fmt::format("--arch must be llama, qwen2 or mistral, got '{}'", value)};
      s.architecture = a->second;
    } else if (flag == "--dtype") {
      if (value == "f32")
        s.weight_dtype = model::dtype::f32;
      else if (value == "f16")
        s.weight_dtype = model::dtype::f16;
      else if (value == "bf16")
        s.weight_dtype = model::dtype::bf16;
      else
        return usage_error{fmt::format("--dtype must be f32, f16 or bf16, got '{}'", value)};
    } else if (flag == "--tokenizer") {
      if (value != "byte_level" && value != "sentencepiece")
        return usage_error{
          fmt::format("--tokenizer must be byte_level or sentencepiece, got '{}'", value)};
      s.tokenizer = value;
    } else if (flag == "--rope") {
      if (value != "none" && value != "llama3")
        return usage_error{fmt::format("--rope must be none or llama3, got '{}'", value)};
      s.rope = value;
    } else {
      return usage_error{fmt::format("unknown option {}", flag)};
    }
  }
  if (opts.out.empty() == opts.inspect.empty())
    return usage_error{"give exactly one of --out DIR or --inspect DIR"};
  if (auto err = model::validate(opts.spec))
    return usage_error{dynamo::client_message(err)};
  return opts;
}

std::string render_shape(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

/// Prints the summary (and the stats) of the checkpoint in `dir`; returns the exit code.
int report(const fs::path& dir, bool dump_stats) {
  auto ckpt = model::open_checkpoint(dir);
  if (!ckpt) {
    fmt::print(stderr, "dynamo-synth: {}\n", dynamo::client_message(ckpt.error()));
    return 1;
  }
  uint64_t parameters = 0;
  std::vector<float> values;
  for (const auto& name : ckpt->tensors.names()) {
    auto view = ckpt->tensors.find(name);
    if (!view)
      dynamo::on_internal_error("a listed tensor cannot be found");
    parameters += view->elements();
    if (!dump_stats)
      continue;
    values.resize(view->elements());
    if (auto err = model::to_f32(*view, values))
      dynamo::on_internal_error(dynamo::describe(err));
    double sum = 0;
    double sumsq = 0;
    for (float x : values) {
      sum += x;
      sumsq += static_cast<double>(x) * x;
    }
    fmt::print("tensor {} {} {} {:.17g} {:.17g}\n", name, model::to_string(view->type),
               render_shape(view->shape), sum, sumsq);
  }
  const auto& cfg = ckpt->config;
  fmt::print("model {}: {} layers, hidden {}, heads {}/{}, intermediate {}, vocab {}, context {}\n",
             cfg.architecture, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
             cfg.num_key_value_heads, cfg.intermediate_size, cfg.vocab_size,
             cfg.max_position_embeddings);
  fmt::print("parameters {}\n", parameters);
  uint64_t total = 0;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator{dir})
    if (entry.is_regular_file())
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const auto size = fs::file_size(file);
    total += size;
    fmt::print("file {} {}\n", file.filename().string(), size);
  }
  fmt::print("bytes {}\n", total);
  if (fs::exists(dir / "tokenizer.json")) {
    auto tok = dynamo::tokenizer::load_hf_tokenizer(dir / "tokenizer.json");
    if (!tok) {
      fmt::print(stderr, "dynamo-synth: tokenizer: {}\n", dynamo::client_message(tok.error()));
      return 1;
    }
    const auto ids = (*tok)->encode("Hello, world! The café opens at 9:30.");
    fmt::print("tokenizer {} tokens; 'Hello, world! The café opens at 9:30.' -> [{}]\n",
               (*tok)->vocab_size(), fmt::join(ids, ", "));
    if ((*tok)->vocab_size() > cfg.vocab_size) {
      fmt::print(stderr, "dynamo-synth: the tokenizer has more tokens than vocab_size\n");
      return 1;
    }
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (std::holds_alternative<std::monostate>(parsed)) {
    fmt::print("{}", usage);
    return 0;
  }
  if (auto* err = std::get_if<usage_error>(&parsed)) {
    fmt::print(stderr, "dynamo-synth: {}\n{}", err->message, usage);
    return 2;
  }
  const auto& opts = std::get<options>(parsed);
  auto log = dynamo::default_logger("synth");
  log->set_level(opts.quiet ? spdlog::level::warn : spdlog::level::info);
  if (!opts.inspect.empty())
    return report(opts.inspect, opts.dump_stats);
  if (auto err = model::synthesize(opts.spec, opts.out, log)) {
    fmt::print(stderr, "dynamo-synth: {}\n", dynamo::client_message(err));
    return 1;
  }
  return report(opts.out, opts.dump_stats);
}
