#include "dynamo/process.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

/// A fresh temporary directory, removed on destruction.
class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dynamo-proc-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Waits (bounded) for `pid` to end.
std::optional<exit_status> reap_within(pid_t pid, std::chrono::milliseconds timeout) {
  std::optional<exit_status> status;
  testing::wait_until([&status, pid] { return (status = try_reap(pid)).has_value(); }, timeout);
  return status;
}

process_spec shell(const std::string& script, std::vector<std::string> env = {"PATH=/usr/bin:/bin"}) {
  process_spec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = std::move(env);
  return spec;
}

TEST(process, exit_code_is_reported) {
  auto pid = spawn_process(shell("exit 3"));
  ASSERT_TRUE(pid) << describe(pid.error());
  auto status = reap_within(*pid, 5s);
  ASSERT_TRUE(status) << "timed out after 5 s waiting for `exit 3` to end";
  EXPECT_FALSE(status->signaled);
  EXPECT_EQ(status->code, 3);
  EXPECT_FALSE(status->success());
  EXPECT_EQ(status->to_string(), "exited with code 3");
}

TEST(process, a_signal_is_reported_by_name) {
  auto pid = spawn_process(shell("kill -9 $$"));
  ASSERT_TRUE(pid) << describe(pid.error());
  auto status = reap_within(*pid, 5s);
  ASSERT_TRUE(status) << "timed out after 5 s waiting for the self-kill";
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGKILL);
  EXPECT_EQ(status->to_string(), "killed by signal 9 (SIGKILL)");
}

TEST(process, the_child_gets_exactly_the_given_environment_and_its_own_group) {
  temp_dir dir;
  auto out = dir.path() / "out";
  auto spec = shell("echo \"$DYN_X|$HOME|$(cut -d' ' -f5 /proc/$$/stat)|$$\"",
                    {"PATH=/usr/bin:/bin", "DYN_X=42"});
  spec.output_path = out.string();
  auto pid = spawn_process(spec);
  ASSERT_TRUE(pid) << describe(pid.error());
  auto status = reap_within(*pid, 5s);
  ASSERT_TRUE(status) << "timed out after 5 s waiting for the shell to end";
  EXPECT_TRUE(status->success()) << status->to_string() << ": " << slurp(out);
  auto text = slurp(out);
  auto expected_tail = std::to_string(*pid) + "|" + std::to_string(*pid) + "\n";
  EXPECT_TRUE(text.starts_with("42||")) << "only the given variables are set: " << text;
  EXPECT_TRUE(text.ends_with(expected_tail)) << "the child leads its own group: " << text;
}

TEST(process, signals_are_unblocked_in_the_child) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &set, &old);
  auto pid = spawn_process(shell("exec sleep 30"));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(pid) << describe(pid.error());
  ::kill(*pid, SIGTERM);
  auto status = reap_within(*pid, 5s);
  ASSERT_TRUE(status) << "timed out after 5 s: SIGTERM must reach a child spawned while the "
                         "parent blocked it";
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGTERM);
}

TEST(process, the_child_dies_with_the_thread_that_spawned_it) {
  caf::expected<pid_t> pid = caf::error{};
  std::thread spawner{[&pid] { pid = spawn_process(shell("exec sleep 30")); }};
  spawner.join();
  ASSERT_TRUE(pid) << describe(pid.error());
  auto status = reap_within(*pid, 5s);
  ASSERT_TRUE(status) << "timed out after 5 s waiting for PR_SET_PDEATHSIG to end the child";
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGKILL);
}

TEST(process, a_missing_program_is_not_found) {
  process_spec spec;
  spec.argv = {"dynamo-no-such-program"};
  spec.env = {"PATH=/usr/bin:/bin"};
  auto pid = spawn_process(spec);
  ASSERT_FALSE(pid);
  EXPECT_EQ(classify(pid.error()), errc::not_found);
  EXPECT_NE(client_message(pid.error()).find("dynamo-no-such-program"), std::string::npos);
  spec.argv = {"/nonexistent/dir/prog"};
  pid = spawn_process(spec);
  ASSERT_FALSE(pid);
  EXPECT_EQ(classify(pid.error()), errc::unavailable) << describe(pid.error());
  EXPECT_NE(operator_detail(pid.error()).find("exec failed"), std::string::npos)
    << operator_detail(pid.error());
  EXPECT_EQ(classify(spawn_process(process_spec{}).error()), errc::invalid_request);
}

TEST(process, find_executable_uses_the_path_of_the_given_environment) {
  auto found = find_executable("sh", {"HOME=/root", "PATH=/nonexistent:/bin"});
  ASSERT_TRUE(found) << describe(found.error());
  EXPECT_EQ(*found, "/bin/sh");
  EXPECT_FALSE(find_executable("sh", {"PATH=/nonexistent"}));
  auto explicit_path = find_executable("./relative/prog", {});
  ASSERT_TRUE(explicit_path);
  EXPECT_EQ(*explicit_path, "./relative/prog");
}

TEST(process, environment_entries_copies_envp) {
  const char* envp[] = {"A=1", "B=", nullptr};
  EXPECT_EQ(environment_entries(envp), (std::vector<std::string>{"A=1", "B="}));
  EXPECT_TRUE(environment_entries(nullptr).empty());
}

} // namespace
} // namespace dynamo
