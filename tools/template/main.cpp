// dynamo-template: renders a Hugging Face chat template with the C++ Jinja engine, for
// inspection and for the golden tests against Python's jinja2.
#include "dynamo/error.hpp"
#include "dynamo/jinja/hf_chat_template.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage =
  "usage: dynamo-template (--template FILE | --tokenizer-config FILE) [--messages FILE.json]\n"
  "                       [--add-generation-prompt] [--bos TEXT] [--eos TEXT]\n"
  "                       [--now EPOCH_SECONDS] [--help]\n"
  "\n"
  "Renders a chat template the way transformers' apply_chat_template does and writes the\n"
  "prompt to stdout (no newline added).\n"
  "\n"
  "  --template FILE          the Jinja template text\n"
  "  --tokenizer-config FILE  a tokenizer_config.json; its chat_template and special tokens\n"
  "  --messages FILE.json     a JSON list of messages, or an object with the whole context\n"
  "                           (messages, tools, documents, ...); '-' reads stdin; default []\n"
  "  --add-generation-prompt  set add_generation_prompt to true\n"
  "  --bos TEXT, --eos TEXT   bos_token / eos_token (override the config's)\n"
  "  --now EPOCH_SECONDS      the time strftime_now() formats (default: now)\n"
  "\n"
  "Exit status: 0 rendered, 1 template or input error (message on stderr), 2 usage error.\n";

struct options {
  std::optional<std::string> template_file;
  std::optional<std::string> config_file;
  std::optional<std::string> messages_file;
  bool add_generation_prompt = false;
  std::optional<std::string> bos;
  std::optional<std::string> eos;
  std::optional<int64_t> now;
};

int usage_error(std::string_view message) {
  std::cerr << "dynamo-template: " << message << "\n\n" << usage;
  return 2;
}

int failure(std::string_view message) {
  std::cerr << "error: " << message << '\n';
  return 1;
}

std::optional<std::string> read_file(const std::string& path) {
  if (path == "-")
    return std::string{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Parses argv; returns an exit code when the program should stop (help or usage error).
std::optional<int> parse_args(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (i + 1 >= argc)
        return std::nullopt;
      (void) name;
      return std::string{argv[++i]};
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    }
    if (arg == "--add-generation-prompt") {
      opt.add_generation_prompt = true;
      continue;
    }
    std::optional<std::string>* slot = nullptr;
    if (arg == "--template")
      slot = &opt.template_file;
    else if (arg == "--tokenizer-config")
      slot = &opt.config_file;
    else if (arg == "--messages")
      slot = &opt.messages_file;
    else if (arg == "--bos")
      slot = &opt.bos;
    else if (arg == "--eos")
      slot = &opt.eos;
    if (slot == nullptr && arg != "--now")
      return usage_error(fmt::format("unknown argument '{}'", arg));
    auto v = value(arg);
    if (!v)
      return usage_error(fmt::format("{} needs a value", arg));
    if (arg == "--now") {
      try {
        size_t used = 0;
        opt.now = std::stoll(*v, &used);
        if (used != v->size())
          throw std::invalid_argument{"trailing characters"};
      } catch (const std::exception&) {
        return usage_error(fmt::format("--now expects integer seconds, got '{}'", *v));
      }
      continue;
    }
    *slot = std::move(*v);
  }
  if (opt.template_file.has_value() == opt.config_file.has_value())
    return usage_error("give exactly one of --template and --tokenizer-config");
  return std::nullopt;
}

int run(const options& opt) {
  using dynamo::jinja::json;
  dynamo::jinja::render_options render;
  if (opt.now) {
    auto at = std::chrono::system_clock::time_point{std::chrono::seconds{*opt.now}};
    render.clock = [at] { return at; };
  }
  std::shared_ptr<const dynamo::jinja::hf_chat_template> tmpl;
  if (opt.config_file) {
    auto text = read_file(*opt.config_file);
    if (!text)
      return failure(fmt::format("cannot read {}", *opt.config_file));
    auto loaded = dynamo::jinja::load_hf_chat_template(*text, render);
    if (!loaded)
      return failure(dynamo::client_message(loaded.error()));
    tmpl = std::move(*loaded);
  } else {
    auto text = read_file(*opt.template_file);
    if (!text)
      return failure(fmt::format("cannot read {}", *opt.template_file));
    auto compiled = dynamo::jinja::compile_hf_template(*text);
    if (!compiled)
      return failure(dynamo::client_message(compiled.error()));
    tmpl = std::make_shared<const dynamo::jinja::hf_chat_template>(std::move(*compiled),
                                                                   json::object(), render);
  }
  json context = json::object();
  if (opt.messages_file) {
    auto text = read_file(*opt.messages_file);
    if (!text)
      return failure(fmt::format("cannot read {}", *opt.messages_file));
    auto parsed = json::parse(*text, nullptr, false);
    if (parsed.is_discarded())
      return failure(fmt::format("{} is not valid JSON", *opt.messages_file));
    if (parsed.is_array())
      context["messages"] = std::move(parsed);
    else if (parsed.is_object())
      context = std::move(parsed);
    else
      return failure("--messages must hold a list of messages or a context object");
  }
  if (!context.contains("messages"))
    context["messages"] = json::array();
  if (!context.contains("add_generation_prompt") || opt.add_generation_prompt)
    context["add_generation_prompt"] = opt.add_generation_prompt;
  if (opt.bos)
    context["bos_token"] = *opt.bos;
  if (opt.eos)
    context["eos_token"] = *opt.eos;
  auto out = tmpl->render_context(std::move(context));
  if (!out)
    return failure(dynamo::client_message(out.error()));
  std::fwrite(out->data(), 1, out->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : failure("cannot write to stdout");
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_args(argc, argv, opt))
    return *code;
  return run(opt);
}
