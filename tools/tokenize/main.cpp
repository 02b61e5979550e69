// dynamo-tokenize: encode/decode with a Hugging Face tokenizer.json, train BPE tokenizers, and
// a JSON-lines batch mode for the golden tests.
#include "batch.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/bpe_trainer.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include <charconv>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view usage = R"(usage:
  dynamo-tokenize --tokenizer DIR|FILE [--config FILE] encode [--special] [--with-prefix] TEXT
  dynamo-tokenize --tokenizer DIR|FILE [--config FILE] decode [--keep-special] ID...
  dynamo-tokenize --tokenizer DIR|FILE [--config FILE] --batch
  dynamo-tokenize --train CORPUS_FILE --style byte_level|sentencepiece --vocab N
                  [--special TOKEN]... --out FILE

  --tokenizer     tokenizer.json, or a directory holding it (and tokenizer_config.json)
  --config        tokenizer_config.json (default: the one beside tokenizer.json, if any)
  encode          prints the ids of TEXT, space-separated; --special lets added special
                  tokens match their text; --with-prefix puts the prompt prefix (BOS) first
  decode          prints the text of the ids; --keep-special renders special tokens
  --batch         JSON lines on stdin -> JSON lines on stdout (ops: encode, decode, stream,
                  info; see tools/tokenize/batch.hpp)
  --train         trains a BPE tokenizer on the corpus file and writes tokenizer.json to --out
)";

struct usage_error {
  std::string message;
};

struct options {
  std::string tokenizer;
  std::string config;
  bool batch = false;
  std::string mode;  // encode | decode
  bool special = false;
  bool with_prefix = false;
  bool keep_special = false;
  std::vector<std::string> operands;
  std::string train;
  std::optional<std::string> style;
  std::optional<uint32_t> vocab;
  std::vector<std::string> specials;
  std::string out;
};

uint32_t parse_u32(std::string_view text, std::string_view what) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size())
    throw usage_error{std::string{what} + " must be a non-negative integer, got '"
                      + std::string{text} + "'"};
  return value;
}

options parse(int argc, char** argv) {
  options o;
  bool training = false;
  for (int i = 1; i < argc; ++i)
    training = training || std::string_view{argv[i]} == "--train";
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc)
      throw usage_error{std::string{argv[i]} + " needs a value"};
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--tokenizer")
      o.tokenizer = value(i);
    else if (arg == "--config")
      o.config = value(i);
    else if (arg == "--batch")
      o.batch = true;
    else if (arg == "--special" && training)
      o.specials.push_back(value(i));
    else if (arg == "--special")
      o.special = true;
    else if (arg == "--with-prefix")
      o.with_prefix = true;
    else if (arg == "--keep-special")
      o.keep_special = true;
    else if (arg == "--train")
      o.train = value(i);
    else if (arg == "--style")
      o.style = value(i);
    else if (arg == "--vocab")
      o.vocab = parse_u32(value(i), "--vocab");
    else if (arg == "--out")
      o.out = value(i);
    else if (arg.starts_with("--"))
      throw usage_error{"unknown option " + std::string{arg}};
    else if (o.mode.empty() && o.train.empty() && !o.batch)
      o.mode = arg;
    else
      o.operands.emplace_back(arg);
  }
  if (!o.train.empty()) {
    if (!o.style || !o.vocab || o.out.empty())
      throw usage_error{"--train needs --style, --vocab and --out"};
    if (*o.style != "byte_level" && *o.style != "sentencepiece")
      throw usage_error{"--style must be byte_level or sentencepiece"};
    return o;
  }
  if (o.tokenizer.empty())
    throw usage_error{"--tokenizer is required"};
  if (o.batch)
    return o;
  if (o.mode != "encode" && o.mode != "decode")
    throw usage_error{"expected a mode: encode, decode or --batch"};
  if (o.mode == "encode" && o.operands.size() != 1)
    throw usage_error{"encode takes exactly one TEXT"};
  return o;
}

int train(const options& o) {
  std::ifstream in{o.train, std::ios::binary};
  if (!in) {
    std::cerr << "dynamo-tokenize: cannot read " << o.train << "\n";
    return 1;
  }
  std::ostringstream corpus;
  corpus << in.rdbuf();
  dynamo::tokenizer::bpe_training opts;
  opts.style = *o.style == "sentencepiece" ? dynamo::tokenizer::bpe_style::sentencepiece
                                           : dynamo::tokenizer::bpe_style::byte_level;
  opts.vocab_size = *o.vocab;
  opts.special_tokens = o.specials;
  auto json = dynamo::tokenizer::train_bpe(corpus.str(), opts);
  if (!json) {
    std::cerr << "dynamo-tokenize: " << dynamo::describe(json.error()) << "\n";
    return 1;
  }
  std::ofstream out{o.out, std::ios::binary | std::ios::trunc};
  out << *json;
  out.close();
  if (!out) {
    std::cerr << "dynamo-tokenize: cannot write " << o.out << "\n";
    return 1;
  }
  return 0;
}

int run(const options& o) {
  if (!o.train.empty())
    return train(o);
  auto tok = dynamo::tokenizer::load_hf_tokenizer(o.tokenizer, o.config);
  if (!tok) {
    std::cerr << "dynamo-tokenize: " << dynamo::describe(tok.error()) << "\n";
    return 1;
  }
  if (o.batch)
    return dynamo::tools::run_batch(**tok, std::cin, std::cout) == 0 ? 0 : 1;
  if (o.mode == "encode") {
    auto ids = o.with_prefix ? (*tok)->prompt_prefix() : std::vector<uint32_t>{};
    auto body = o.special ? (*tok)->encode_special(o.operands[0]) : (*tok)->encode(o.operands[0]);
    ids.insert(ids.end(), body.begin(), body.end());
    for (size_t i = 0; i < ids.size(); ++i)
      std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return 0;
  }
  std::vector<uint32_t> ids;
  for (const auto& operand : o.operands)
    ids.push_back(parse_u32(operand, "an id"));
  std::cout << (*tok)->decode(ids, !o.keep_special) << "\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--help" || std::string_view{argv[i]} == "-h") {
      std::cout << usage;
      return 0;
    }
  try {
    return run(parse(argc, argv));
  } catch (const usage_error& e) {
    std::cerr << "dynamo-tokenize: " << e.message << "\n" << usage;
    return 2;
  }
}
