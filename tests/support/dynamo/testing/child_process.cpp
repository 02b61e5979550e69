#include "dynamo/testing/child_process.hpp"

#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace dynamo::testing {

namespace {

std::vector<char*> c_strings(std::vector<std::string>& xs) {
  std::vector<char*> result;
  for (auto& x : xs)
    result.push_back(x.data());
  result.push_back(nullptr);
  return result;
}

} // namespace

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
  std::vector<std::string> argv_store{binary};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<std::string> env_store;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, "DYN_", 4) != 0)
      env_store.emplace_back(*e);
  env_store.insert(env_store.end(), env.begin(), env.end());
  auto argv = c_strings(argv_store);
  auto envp = c_strings(env_store);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path().c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path().c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t unblocked;
  sigemptyset(&unblocked);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &unblocked);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = ::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    ADD_FAILURE() << "posix_spawn(" << argv[0] << ") failed: " << std::strerror(rc);
  }
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
