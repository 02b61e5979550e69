#include "dynamo/testing/child_process.hpp"

#include "dynamo/error.hpp"
#include "dynamo/process.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace dynamo::testing {

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

child_process::child_process(const std::string& binary, const std::vector<std::string>& args,
                             const std::vector<std::string>& env) {
  std::string tmpl = "/tmp/dynamo_child_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
    return;
  }
  dir_ = tmpl;
  process_spec spec;
  spec.argv.push_back(binary);
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, "DYN_", 4) != 0)
      spec.env.emplace_back(*e);
  spec.env.insert(spec.env.end(), env.begin(), env.end());
  // SIGKILL when the test binary dies (even by abort): no child outlives its test.
  spec.parent_death_signal = SIGKILL;
  spec.own_process_group = false;
  spec.output_path = stdout_path();
  spec.error_path = stderr_path();
  auto pid = spawn_process(spec);
  if (!pid) {
    ADD_FAILURE() << "cannot start " << binary << ": " << describe(pid.error());
    return;
  }
  pid_ = *pid;
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (!dir_.empty()) {
    ::unlink(stdout_path().c_str());
    ::unlink(stderr_path().c_str());
    ::rmdir(dir_.c_str());
  }
}

bool child_process::exited() {
  if (status_)
    return true;
  if (pid_ <= 0)
    return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_)
    status_ = st;
  return status_.has_value();
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  using namespace std::chrono_literals;
  if (!wait_until([this] { return exited(); }, timeout, 10ms))
    return std::nullopt;
  if (WIFEXITED(*status_))
    return WEXITSTATUS(*status_);
  return 128 + WTERMSIG(*status_);
}

void child_process::signal(int sig) {
  if (pid_ > 0 && !exited())
    ::kill(pid_, sig);
}

std::string child_process::out() const {
  return read_file(stdout_path());
}

std::string child_process::err() const {
  return read_file(stderr_path());
}

std::string child_process::dump() const {
  return "\n--- stdout ---\n" + out() + "\n--- stderr ---\n" + err() + "\n--------------";
}

} // namespace dynamo::testing
