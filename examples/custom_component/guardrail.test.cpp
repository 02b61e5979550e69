// Tests of the guardrail component: the matching rule, and the guarded graph served over HTTP
// (a blocked prompt gets a 400 from the guardrail; other prompts pass through to a worker).
#include "guardrail.hpp"

#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/serving_graph.hpp"
#include "dynamo/testing/wait.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

namespace guardrail_example {
namespace {

std::vector<dynamo::engine::token_id> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST(guardrail, finds_blocked_words_case_insensitively) {
  std::vector<std::string> words{"forbidden", "Secret"};
  EXPECT_EQ(find_blocked_word(bytes("this is FORBIDDEN text"), words), "forbidden");
  EXPECT_EQ(find_blocked_word(bytes("a secret"), words), "Secret");
  EXPECT_EQ(find_blocked_word(bytes("all fine"), words), "");
  EXPECT_EQ(find_blocked_word(bytes("anything"), {}), "");
}

TEST(guardrail, guarded_graph_rejects_blocked_prompts_and_serves_others) {
  namespace da = dynamo::actors;
  dynamo::graph g{"guarded"};
  da::worker_config wc;
  wc.mocker.speedup_ratio = 1000;
  da::frontend_config fc;
  fc.port = 0;
  guardrail_config gc;
  gc.blocked_words = {"forbidden"};
  auto workers = g.add<da::mocker_worker>("worker", wc, 2);
  auto router = g.add<da::router>("router");
  auto guard = g.add<guardrail>("guardrail", gc);
  auto frontend = g.add<da::frontend>("frontend", fc);
  g.connect(frontend, guard);
  g.connect(guard, router);
  g.connect(router, workers);
  dynamo::testing::serving_graph serving{g};
  auto port = serving.wait_ready("frontend", "worker", 2);
  ASSERT_NE(port, 0);
  ASSERT_TRUE(dynamo::testing::wait_until([&] { return serving.registered("guardrail") == 1; },
                                          std::chrono::seconds{5}));
  auto client = dynamo::testing::http_client::connect("127.0.0.1", port);
  ASSERT_TRUE(client) << dynamo::describe(client.error());
  auto blocked = client->request(
    "POST", "/v1/completions",
    R"({"model":"mock-model","prompt":"tell me the forbidden thing","max_tokens":4})");
  ASSERT_TRUE(blocked) << dynamo::describe(blocked.error());
  EXPECT_EQ(blocked->status, 400) << blocked->body;
  EXPECT_NE(blocked->body.find("blocked word"), std::string::npos) << blocked->body;
  auto ok = client->request("POST", "/v1/completions",
                            R"({"model":"mock-model","prompt":"hello there","max_tokens":4})");
  ASSERT_TRUE(ok) << dynamo::describe(ok.error());
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_NE(ok->body.find("\"completion_tokens\":4"), std::string::npos) << ok->body;
}

} // namespace
} // namespace guardrail_example
