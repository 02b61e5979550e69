// A child process for process-level tests: stdout and stderr captured in files of a fresh
// temporary directory, SIGKILLed and reaped on destruction if still running, and killed by the
// kernel when the test binary dies first (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::testing {

/// The whole contents of the file at `path` ("" when it cannot be read).
std::string read_file(const std::string& path);

/// One child process. Not thread-safe.
class child_process {
public:
  /// Starts `binary` with `args`. The child's environment is ours without DYN_* variables, plus
  /// `env` ("NAME=value" entries); SIGINT/SIGTERM are unblocked and default in the child. Fails
  /// the current test if it cannot start. Call from the test's main thread: the child is killed
  /// when the spawning thread ends.
  child_process(const std::string& binary, const std::vector<std::string>& args,
                const std::vector<std::string>& env = {});

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// SIGKILLs and reaps a child still running; removes the capture files.
  ~child_process();

  /// True when the child started.
  bool started() const noexcept { return pid_ > 0; }

  /// The child's pid (-1 if it did not start).
  pid_t pid() const noexcept { return pid_; }

  /// Reaps the child if it has exited; true once it has.
  bool exited();

  /// Waits up to `timeout` for the child to exit; its exit code (128 + signal when killed by
  /// one), or nullopt if it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  /// Sends `sig` to the running child.
  void signal(int sig);

  /// What the child wrote to stdout so far.
  std::string out() const;
  /// What the child wrote to stderr so far (its log).
  std::string err() const;
  /// Both streams, for failure messages.
  std::string dump() const;

private:
  std::string stdout_path() const { return dir_ + "/stdout"; }
  std::string stderr_path() const { return dir_ + "/stderr"; }

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string dir_;
};

} // namespace dynamo::testing
