// The agg graph with the reference engine on a synthesized model, driven over real HTTP: the
// frontend tokenizes with the model's own tokenizer and chat template (loaded from the path the
// workers register), the workers compute, and the text that comes back is exactly what the
// engine computes for those tokens when driven directly.
#include "agg_fixture.hpp"

#include "dynamo/jinja/hf_chat_template.hpp"
#include "dynamo/model/synthesize.hpp"
#include "dynamo/reference/reference_engine.hpp"
#include "dynamo/tokenizer/hf_tokenizer.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dynamo::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const char* const model_name = "tiny-ref";

class agg_reference : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path{std::filesystem::temp_directory_path()
                                     / ("dynamo-agg-ref-" + std::to_string(::getpid()))};
    std::filesystem::remove_all(*dir_);
    auto spec = model::synth_preset("tiny");
    ASSERT_TRUE(spec) << describe(spec.error());
    auto err = model::synthesize(*spec, *dir_ / model_name, nullptr);
    ASSERT_FALSE(err) << describe(err);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static std::filesystem::path model_dir() { return *dir_ / model_name; }

  static actors::worker_config worker_config() {
    actors::worker_config wc;
    wc.engine = "reference";
    wc.model_path = model_dir().string();
    wc.reference.threads = 1;
    wc.scheduler.total_kv_blocks = 256;
    return wc;
  }

  void SetUp() override {
    graph g{"agg"};
    actors::frontend_config fc;
    fc.port = 0;
    auto w = g.add<actors::aggregated_worker>("worker", worker_config(), 2);
    auto r = g.add<actors::router>("router");
    auto f = g.add<actors::frontend>("frontend", fc);
    g.connect(f, r);
    g.connect(r, w);
    serving = std::make_unique<serving_graph>(g);
    port = serving->wait_ready("frontend", "worker", 2, 60s);
    ASSERT_NE(port, 0);
  }
  void TearDown() override { serving.reset(); }

  json post(const std::string& target, const json& body, int expected_status = 200) {
    auto c = connect_or_fail(port);
    c.set_timeout(60s);
    auto res = call(c, "POST", target, body.dump());
    EXPECT_EQ(res.status, expected_status) << res.body;
    if (body.value("stream", false))
      return json{{"sse", res.body}};
    return json::parse(res.body, nullptr, false);
  }

  /// What the engine itself generates for `prompt_tokens`, greedy, `n` tokens, ignoring EOS.
  static std::vector<engine::token_id> engine_tokens(std::vector<engine::token_id> prompt_tokens,
                                                     uint32_t n) {
    reference::reference_config rc;
    static_cast<batching::scheduler_config&>(rc) = worker_config().scheduler;
    static_cast<reference::compute_config&>(rc) = worker_config().reference;
    rc.model_dir = model_dir();
    auto eng = reference::reference_engine::make(rc, nullptr);
    if (!eng) {
      ADD_FAILURE() << describe(eng.error());
      return {};
    }
    engine::sequence_request req;
    req.id = 1;
    req.prompt = std::move(prompt_tokens);
    req.sampling.temperature = 0;
    req.stop.max_tokens = n;
    req.stop.ignore_eos = true;
    EXPECT_FALSE((*eng)->admit(std::move(req)));
    std::vector<engine::token_id> out;
    for (int steps = 0; (*eng)->has_work() && steps < 10000; ++steps)
      for (auto& o : (*eng)->step().outputs)
        out.insert(out.end(), o.tokens.begin(), o.tokens.end());
    return out;
  }

  static inline std::filesystem::path* dir_ = nullptr;
  std::unique_ptr<serving_graph> serving;
  uint16_t port = 0;
};

TEST_F(agg_reference, the_model_is_listed_under_its_directory_name) {
  auto c = connect_or_fail(port);
  auto res = call(c, "GET", "/v1/models");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.body)["data"][0]["id"], model_name) << res.body;
}

TEST_F(agg_reference, chat_text_is_exactly_the_engines_greedy_output) {
  const std::string content = "Tell me about the sea, please. \xC3\xA9t\xC3\xA9 \xF0\x9F\x8C\x8A";
  auto j = post("/v1/chat/completions",
                {{"model", model_name},
                 {"messages", {{{"role", "user"}, {"content", content}}}},
                 {"max_tokens", 12},
                 {"temperature", 0},
                 {"ignore_eos", true}});
  ASSERT_TRUE(j.contains("choices")) << j.dump();
  auto text = j["choices"][0]["message"]["content"].get<std::string>();
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);

  // The same pipeline by hand: template, tokenize, run the engine, detokenize.
  auto tok = tokenizer::load_hf_tokenizer(model_dir() / "tokenizer.json",
                                          model_dir() / "tokenizer_config.json");
  ASSERT_TRUE(tok) << describe(tok.error());
  std::ifstream in{model_dir() / "tokenizer_config.json"};
  std::ostringstream config;
  config << in.rdbuf();
  auto chat = jinja::load_hf_chat_template(config.str());
  ASSERT_TRUE(chat) << describe(chat.error());
  std::vector<tokenizer::chat_message> msgs{{"user", content}};
  auto rendered = (*chat)->render(msgs, true);
  ASSERT_TRUE(rendered) << describe(rendered.error());
  auto prompt = (*tok)->encode_special(*rendered);
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
  auto expected = engine_tokens(prompt, 12);
  ASSERT_EQ(expected.size(), 12u);
  EXPECT_EQ(text, (*tok)->decode(expected)) << "HTTP text differs from the engine's tokens";
}

TEST_F(agg_reference, streamed_deltas_concatenate_to_the_non_streamed_text) {
  json body{{"model", model_name},
            {"prompt", "Once upon a time"},
            {"max_tokens", 16},
            {"temperature", 0},
            {"ignore_eos", true}};
  auto whole = post("/v1/completions", body);
  ASSERT_TRUE(whole.contains("choices")) << whole.dump();
  body["stream"] = true;
  auto sse = post("/v1/completions", body)["sse"].get<std::string>();
  std::string text;
  for (const auto& event : parse_sse_data(sse)) {
    if (event == "[DONE]")
      break;
    auto delta = json::parse(event)["choices"][0]["text"].get<std::string>();
    EXPECT_TRUE(tokenizer::is_valid_utf8(delta)) << "a chunk split a UTF-8 sequence";
    text += delta;
  }
  EXPECT_EQ(text, whole["choices"][0]["text"].get<std::string>());
}

TEST_F(agg_reference, a_fixed_seed_repeats_and_another_seed_differs) {
  auto sample = [this](uint64_t seed) {
    auto j = post("/v1/completions", {{"model", model_name},
                                      {"prompt", "The weather today"},
                                      {"max_tokens", 24},
                                      {"temperature", 1.0},
                                      {"seed", seed},
                                      {"ignore_eos", true}});
    return j["choices"][0]["text"].get<std::string>();
  };
  auto a = sample(7);
  EXPECT_EQ(sample(7), a);
  EXPECT_NE(sample(8), a) << "24 sampled tokens at temperature 1 should differ between seeds";
}

TEST_F(agg_reference, bad_requests_get_openai_errors) {
  auto j = post("/v1/chat/completions",
                {{"model", model_name},
                 {"messages", {{{"role", "wizard"}, {"content", "hi"}}}}},
                400);
  EXPECT_TRUE(j.contains("error")) << j.dump();
  auto too_long = post("/v1/completions",
                       {{"model", model_name}, {"prompt", "hello"}, {"max_tokens", 3000}}, 400);
  EXPECT_TRUE(too_long.contains("error")) << too_long.dump();
}

// A mocker graph whose workers publish `model_path`: the frontend's per-model assets decide.
class agg_model_files : public agg_reference {
protected:
  void SetUp() override {}

  void serve(const std::filesystem::path& path) {
    graph g{"agg"};
    actors::worker_config wc;
    wc.engine = "mocker";
    wc.model_path = path.string();
    wc.mocker.speedup_ratio = 1000;
    actors::frontend_config fc;
    fc.port = 0;
    auto w = g.add<actors::aggregated_worker>("worker", wc, 1);
    auto r = g.add<actors::router>("router");
    auto f = g.add<actors::frontend>("frontend", fc);
    g.connect(f, r);
    g.connect(r, w);
    serving = std::make_unique<serving_graph>(g);
    port = serving->wait_ready("frontend", "worker", 1, 30s);
    ASSERT_NE(port, 0);
  }
};

TEST_F(agg_model_files, a_tokenizer_that_cannot_be_loaded_gives_503_not_wrong_tokens) {
  serve(*dir_ / "no-such-model");
  auto j = post("/v1/completions", {{"model", "no-such-model"}, {"prompt", "hi"}}, 503);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("tokenizer"), std::string::npos)
    << j.dump();
}

TEST_F(agg_model_files, a_model_without_chat_template_refuses_chat_but_serves_completions) {
  auto copy = *dir_ / "no-template";
  std::filesystem::remove_all(copy);
  std::filesystem::create_directories(copy);
  std::filesystem::copy_file(model_dir() / "tokenizer.json", copy / "tokenizer.json");
  {
    std::ifstream in{model_dir() / "tokenizer_config.json"};
    auto config = json::parse(in);
    config.erase("chat_template");
    std::ofstream out{copy / "tokenizer_config.json"};
    out << config.dump();
  }
  serve(copy);
  auto chat = post("/v1/chat/completions",
                   {{"model", "no-template"},
                    {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                   400);
  EXPECT_NE(chat["error"]["message"].get<std::string>().find("no chat template"),
            std::string::npos)
    << chat.dump();
  auto completion = post("/v1/completions",
                         {{"model", "no-template"}, {"prompt", "hi"}, {"max_tokens", 3}});
  EXPECT_EQ(completion["usage"]["completion_tokens"], 3) << completion.dump();
}

} // namespace
} // namespace dynamo::testing
