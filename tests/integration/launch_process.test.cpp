// The example binary `dynamo_agg` in launcher mode: it starts a private nats-server and one
// process per replica, serves a completion end to end through them (HTTP -> frontend process ->
// router process -> worker process over Cap'n Proto, found through NATS), and on SIGINT stops
// every child and the nats-server and exits 0.
#include "dynamo/error.hpp"
#include "dynamo/testing/child_process.hpp"
#include "dynamo/testing/http_client.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef DYNAMO_AGG_BINARY
#  error "DYNAMO_AGG_BINARY must name the dynamo_agg executable"
#endif

namespace dynamo::testing {
namespace {

using namespace std::chrono_literals;

/// The pids of the direct children of `pid` (all its threads' children).
std::set<pid_t> children_of(pid_t pid) {
  std::set<pid_t> result;
  std::error_code ec;
  auto tasks = std::filesystem::path{"/proc"} / std::to_string(pid) / "task";
  for (const auto& task : std::filesystem::directory_iterator{tasks, ec}) {
    std::ifstream in{task.path() / "children"};
    pid_t child = 0;
    while (in >> child)
      result.insert(child);
  }
  return result;
}

/// The command name of `pid` ("" when it is gone).
std::string command_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/comm"};
  std::string name;
  std::getline(in, name);
  return name;
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

/// Offset of the first line of `text` that contains both `a` and `b`; npos when none does.
size_t first_line_with(const std::string& text, const std::string& a, const std::string& b) {
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    auto line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos)
      return start;
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return std::string::npos;
}

http_response get(uint16_t port, const std::string& target) {
  auto c = http_client::connect("127.0.0.1", port, 1s);
  if (!c)
    return {};
  c->set_timeout(2s);
  auto res = c->request("GET", target);
  return res ? std::move(*res) : http_response{};
}

TEST(launch_process, serves_through_child_processes_and_stops_everything_on_sigint) {
  auto port = free_port();
  child_process launcher{DYNAMO_AGG_BINARY,
                         {"--launch", "--port", std::to_string(port), "--engine", "mocker",
                          "--worker.speedup-ratio", "1000", "--runtime.threads", "2",
                          "--runtime.drain-timeout", "5s", "--discovery.ttl", "1500ms", "--launcher.summary-interval", "2s"}};
  ASSERT_TRUE(launcher.started());
  // A private nats-server, two workers, a router and a frontend.
  ASSERT_TRUE(wait_until(
    [&launcher] { return launcher.exited() || children_of(launcher.pid()).size() >= 5; }, 30s,
    50ms))
    << "timed out after 30 s waiting for five child processes" << launcher.dump();
  ASSERT_FALSE(launcher.exited()) << launcher.dump();
  auto children = children_of(launcher.pid());
  size_t nats_servers = 0;
  for (auto pid : children)
    if (command_of(pid) == "nats-server")
      ++nats_servers;
  EXPECT_EQ(children.size(), 5u) << launcher.dump();
  EXPECT_EQ(nats_servers, 1u) << "the launcher starts its own nats-server" << launcher.dump();
  ASSERT_TRUE(wait_until(
    [&launcher, port] {
      return launcher.exited()
             || get(port, "/v1/models").body.find("mock-model") != std::string::npos;
    },
    60s, 100ms))
    << "timed out after 60 s waiting for the frontend process to list mock-model on port "
    << port << launcher.dump();
  ASSERT_FALSE(launcher.exited()) << launcher.dump();

  // The frontend learns the model from a worker's record before it may have connected to the
  // router: retry until the request path is complete (bounded).
  http_response res;
  ASSERT_TRUE(wait_until(
    [&res, port] {
      auto c = http_client::connect("127.0.0.1", port, 1s);
      if (!c)
        return false;
      c->set_timeout(10s);
      auto r = c->request("POST", "/v1/chat/completions",
                          R"({"model":"mock-model","messages":[{"role":"user","content":"Hi"}],)"
                          R"("max_tokens":8,"stream":true})",
                          {{"Content-Type", "application/json"}});
      if (!r)
        return false;
      res = std::move(*r);
      return res.status == 200;
    },
    30s, 200ms))
    << "timed out after 30 s waiting for a 200 completion; last status " << res.status << ": "
    << res.body << launcher.dump();
  auto body = res.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
    body.pop_back();
  EXPECT_TRUE(body.ends_with("data: [DONE]")) << res.body;
  EXPECT_GE(parse_sse_data(res.body).size(), 2u) << res.body;

  launcher.signal(SIGINT);
  auto code = launcher.wait_exit(30s);
  ASSERT_TRUE(code) << "timed out after 30 s waiting for the launcher to exit after SIGINT"
                    << launcher.dump();
  EXPECT_EQ(*code, 0) << launcher.dump();
  for (auto pid : children)
    EXPECT_FALSE(process_exists(pid)) << "child " << pid << " outlived the launcher"
                                      << launcher.dump();
  auto log = launcher.err();
  EXPECT_NE(log.find("launcher stopped (clean)"), std::string::npos) << launcher.dump();
  auto frontend = first_line_with(log, "frontend#0 (pid", "stopping: SIGTERM");
  auto router = first_line_with(log, "router#0 (pid", "stopping: SIGTERM");
  auto worker = first_line_with(log, "worker#0 (pid", "stopping: SIGTERM");
  ASSERT_NE(frontend, std::string::npos) << launcher.dump();
  EXPECT_LT(frontend, router) << "sources stop first" << launcher.dump();
  EXPECT_LT(router, worker) << "sources stop first" << launcher.dump();
}

// The README's default: real inference with the reference engine, here as separate processes.
// The two worker processes synthesize the model on first run (racing for the same directory),
// the frontend process loads its tokenizer and chat template from the path the workers publish.
TEST(launch_process, reference_engine_synthesizes_the_model_and_serves_it_across_processes) {
  auto dir = std::filesystem::temp_directory_path()
             / ("dynamo-launch-ref-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto model_dir = dir / "tiny-test";
  auto port = free_port();
  child_process launcher{DYNAMO_AGG_BINARY,
                         {"--launch", "--port", std::to_string(port), "--model",
                          model_dir.string(), "--runtime.threads", "2", "--runtime.drain-timeout",
                          "5s", "--discovery.ttl", "1500ms"}};
  ASSERT_TRUE(launcher.started());
  ASSERT_TRUE(wait_until(
    [&launcher, port] {
      return launcher.exited()
             || get(port, "/v1/models").body.find("tiny-test") != std::string::npos;
    },
    120s, 100ms))
    << "timed out after 120 s waiting for the frontend process to list tiny-test on port "
    << port << launcher.dump();
  ASSERT_TRUE(std::filesystem::exists(model_dir / "model.safetensors")) << launcher.dump();

  auto complete = [port](const std::string& body, http_response& res) {
    auto c = http_client::connect("127.0.0.1", port, 1s);
    if (!c)
      return false;
    c->set_timeout(60s);
    auto r = c->request("POST", "/v1/chat/completions", body,
                        {{"Content-Type", "application/json"}});
    if (!r)
      return false;
    res = std::move(*r);
    return res.status == 200;
  };
  const std::string request =
    R"({"model":"tiny-test","messages":[{"role":"user","content":"Hello there!"}],)"
    R"("max_tokens":8,"temperature":0,"ignore_eos":true})";
  http_response first;
  ASSERT_TRUE(wait_until([&complete, &request, &first] { return complete(request, first); }, 60s,
                         200ms))
    << "timed out after 60 s waiting for a 200 completion; last status " << first.status << ": "
    << first.body << launcher.dump();
  auto j = nlohmann::json::parse(first.body);
  EXPECT_EQ(j["usage"]["completion_tokens"], 8) << first.body;
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 3) << first.body;
  // Greedy decoding is deterministic whichever worker process serves it.
  for (int i = 0; i < 3; ++i) {
    http_response again;
    ASSERT_TRUE(complete(request, again)) << again.status << ": " << again.body;
    EXPECT_EQ(nlohmann::json::parse(again.body)["choices"][0]["message"]["content"],
              j["choices"][0]["message"]["content"]);
  }

  launcher.signal(SIGINT);
  auto code = launcher.wait_exit(30s);
  ASSERT_TRUE(code) << "timed out after 30 s waiting for the launcher to exit after SIGINT"
                    << launcher.dump();
  EXPECT_EQ(*code, 0) << launcher.dump();
  std::filesystem::remove_all(dir);
}

TEST(launch_process, component_without_nats_exits_2) {
  child_process child{DYNAMO_AGG_BINARY, {"--component", "worker"}};
  ASSERT_TRUE(child.started());
  auto code = child.wait_exit(20s);
  ASSERT_TRUE(code) << "timed out after 20 s waiting for the refusal" << child.dump();
  EXPECT_EQ(*code, 2) << child.dump();
  EXPECT_NE(child.err().find("--nats"), std::string::npos) << child.dump();
}

TEST(launch_process, help_lists_the_role_flags) {
  child_process child{DYNAMO_AGG_BINARY, {"--help"}};
  ASSERT_TRUE(child.started());
  auto code = child.wait_exit(20s);
  ASSERT_TRUE(code) << "timed out after 20 s waiting for --help" << child.dump();
  EXPECT_EQ(*code, 0);
  for (const auto* needle : {"--launch", "--component", "--nats", "--rpc.listen",
                             "--rpc.advertise", "--discovery.ttl"})
    EXPECT_NE(child.out().find(needle), std::string::npos) << needle << child.dump();
}

} // namespace
} // namespace dynamo::testing
