// dynamo-generate: runs the reference engine on one prompt (optionally N copies batched
// together), streams the text of the first sequence to stdout and prints throughput to stderr.
#include "options.hpp"

#include "dynamo/error.hpp"
#include "dynamo/log.hpp"
#include "dynamo/reference/reference_engine.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace dynamo;
using generate_tool::options;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

int usage_failure(const std::string& message) {
  fmt::print(stderr, "dynamo-generate: {}\n(see dynamo-generate --help)\n", message);
  return exit_usage;
}

int failure(const std::string& message) {
  fmt::print(stderr, "dynamo-generate: {}\n", message);
  return exit_failure;
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

double rate(uint64_t tokens, std::chrono::nanoseconds d) {
  return d.count() > 0 ? static_cast<double>(tokens) / seconds(d) : 0.0;
}

// The text (or token ids, without a tokenizer) of one generated sequence as it grows.
class sequence_text {
public:
  sequence_text(const tokenizer::tokenizer* tok, bool live)
    : stream_(tok != nullptr ? tok->make_decode_stream() : nullptr), live_(live) {
  }

  void push(engine::token_id token) {
    ++tokens_;
    if (stream_)
      emit(stream_->push(token));
    else
      emit(fmt::format("{}{}", tokens_ > 1 ? " " : "", token));
  }

  void finish(engine::finish_reason reason) {
    if (stream_)
      emit(stream_->flush());
    finish_ = reason;
  }

  const std::string& text() const noexcept { return text_; }
  uint64_t tokens() const noexcept { return tokens_; }
  engine::finish_reason reason() const noexcept { return finish_; }

private:
  void emit(const std::string& piece) {
    if (piece.empty())
      return;
    if (live_) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    } else {
      text_ += piece;
    }
  }

  std::unique_ptr<tokenizer::decode_stream> stream_;
  bool live_;
  std::string text_;
  uint64_t tokens_ = 0;
  engine::finish_reason finish_ = engine::finish_reason::none;
};

int run(const options& opts) {
  log_sinks sinks{opts.log_level};
  auto log = sinks.make("generate", "-");
  const std::filesystem::path dir{opts.model};
  std::shared_ptr<const tokenizer::tokenizer> tok;
  std::error_code ec;
  if (std::filesystem::exists(dir / "tokenizer.json", ec)) {
    auto loaded = tokenizer::load_hf_tokenizer(dir / "tokenizer.json");
    if (!loaded) {
      if (opts.prompt)
        return failure(describe(loaded.error()));
      log->warn("printing token ids: the tokenizer cannot be loaded: {}",
                describe(loaded.error()));
    } else {
      tok = std::move(*loaded);
    }
  } else if (opts.prompt) {
    return usage_failure(fmt::format("--prompt needs {}; use --tokens instead",
                                     (dir / "tokenizer.json").string()));
  }
  std::vector<engine::token_id> prompt = opts.tokens;
  if (opts.prompt) {
    prompt = tok->prompt_prefix();
    const auto body = tok->encode_special(*opts.prompt);
    prompt.insert(prompt.end(), body.begin(), body.end());
    if (prompt.empty())
      return usage_failure("the prompt encodes to no tokens");
  }

  reference::reference_config cfg;
  cfg.model_dir = dir;
  cfg.threads = opts.threads;
  cfg.block_size = opts.block_size;
  cfg.kv_cache_bytes = opts.kv_cache_mib << 20;
  cfg.max_num_seqs = opts.batch;
  cfg.max_waiting = std::max<uint32_t>(cfg.max_waiting, opts.batch);
  const auto load_start = std::chrono::steady_clock::now();
  auto made = reference::reference_engine::make(cfg, log);
  if (!made)
    return failure(describe(made.error()));
  auto& eng = **made;
  const auto load_time = std::chrono::steady_clock::now() - load_start;

  std::vector<sequence_text> texts;
  texts.reserve(opts.batch);
  for (uint32_t i = 0; i < opts.batch; ++i) {
    engine::sequence_request req;
    req.id = i;
    req.prompt = prompt;
    req.sampling.temperature = opts.temperature;
    req.sampling.top_p = opts.top_p;
    req.sampling.top_k = opts.top_k;
    if (opts.seed)
      req.sampling.seed = *opts.seed + i;
    req.stop.max_tokens = opts.max_tokens;
    req.stop.ignore_eos = opts.ignore_eos;
    if (auto err = eng.admit(std::move(req))) {
      if (classify(err) == errc::invalid_request)
        return usage_failure(client_message(err));
      return failure(describe(err));
    }
    texts.emplace_back(tok.get(), i == 0);
  }

  uint64_t cached_prompt_tokens = 0;
  const auto run_start = std::chrono::steady_clock::now();
  while (eng.has_work()) {
    for (const auto& out : eng.step().outputs) {
      auto& text = texts.at(out.id);
      if (out.id == 0)
        cached_prompt_tokens = out.cached_prompt_tokens;
      for (const auto token : out.tokens)
        text.push(token);
      if (out.finish == engine::finish_reason::error)
        log->error("sequence {} failed: {}", out.id, out.error_detail);
      if (out.finish != engine::finish_reason::none)
        text.finish(out.finish);
    }
  }
  const auto run_time = std::chrono::steady_clock::now() - run_start;
  std::fputs("\n", stdout);
  for (uint32_t i = 1; i < opts.batch; ++i)
    fmt::print("--- sequence {} ({} tokens, {}) ---\n{}\n", i, texts[i].tokens(),
               engine::to_string(texts[i].reason()), texts[i].text());
  std::fflush(stdout);

  uint64_t generated = 0;
  for (const auto& t : texts)
    generated += t.tokens();
  const auto c = eng.counters();
  fmt::print(stderr,
             "prompt {} tokens ({} cached), {} sequence(s), {} tokens generated, finish {}; "
             "load {:.2f} s, run {:.2f} s in {} steps; prefill {:.1f} tok/s ({} tokens in "
             "{:.3f} s), decode {:.1f} tok/s ({} tokens in {:.3f} s); {} preemptions\n",
             prompt.size(), cached_prompt_tokens, opts.batch, generated,
             engine::to_string(texts.front().reason()), seconds(load_time), seconds(run_time),
             c.steps, rate(c.prefill_tokens, c.prefill_time), c.prefill_tokens,
             seconds(c.prefill_time), rate(c.decode_tokens, c.decode_time), c.decode_tokens,
             seconds(c.decode_time), c.preemptions);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  auto parsed = generate_tool::parse_options(argc, argv);
  if (std::holds_alternative<generate_tool::show_help>(parsed)) {
    fmt::print("{}", generate_tool::usage);
    return 0;
  }
  if (auto* err = std::get_if<generate_tool::usage_error>(&parsed))
    return usage_failure(err->message);
  try {
    return run(std::get<options>(parsed));
  } catch (const std::exception& e) {
    return failure(fmt::format("unexpected failure: {}", e.what()));
  }
}
