#include "dynamo/process.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dynamo {

namespace {

bool is_executable_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

/// Writes all of `len` bytes, retrying on EINTR. Async-signal-safe.
void write_all(int fd, const void* data, size_t len) {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    auto n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    p += n;
    len -= static_cast<size_t>(n);
  }
}

/// The child side of spawn_process: only async-signal-safe calls between fork and exec. Reports
/// a failure as (step, errno) on `report_fd` and exits 127.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp,
                             const process_spec& spec, pid_t parent, int report_fd) {
  auto fail = [report_fd](int step) {
    int msg[2] = {step, errno};
    write_all(report_fd, msg, sizeof(msg));
    ::_exit(127);
  };
  if (spec.parent_death_signal != 0) {
    if (::prctl(PR_SET_PDEATHSIG, spec.parent_death_signal) != 0)
      fail(1);
    if (::getppid() != parent) // the parent died before prctl took effect
      ::_exit(127);
  }
  if (spec.own_process_group && ::setpgid(0, 0) != 0)
    fail(2);
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD})
    ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int in = ::open("/dev/null", O_RDONLY);
  if (in < 0 || ::dup2(in, STDIN_FILENO) < 0)
    fail(3);
  if (!spec.output_path.empty()) {
    int out = ::open(spec.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0)
      fail(4);
  }
  if (!spec.error_path.empty()) {
    int err = ::open(spec.error_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err < 0 || ::dup2(err, STDERR_FILENO) < 0)
      fail(4);
  }
  ::execve(path, argv, envp);
  fail(5);
  ::_exit(127);
}

std::string_view step_name(int step) {
  switch (step) {
    case 1:
      return "prctl(PR_SET_PDEATHSIG)";
    case 2:
      return "setpgid";
    case 3:
      return "redirecting stdin";
    case 4:
      return "opening the output file";
    default:
      return "exec";
  }
}

} // namespace

std::string exit_status::to_string() const {
  if (!signaled)
    return fmt::format("exited with code {}", code);
  const char* name = signal > 0 ? ::sigabbrev_np(signal) : nullptr;
  return name != nullptr ? fmt::format("killed by signal {} (SIG{})", signal, name)
                         : fmt::format("killed by signal {}", signal);
}

exit_status exit_status::from_wait_status(int status) noexcept {
  exit_status result;
  if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.signal = WTERMSIG(status);
  } else {
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  }
  return result;
}

caf::expected<std::string> find_executable(const std::string& program,
                                           const std::vector<std::string>& env) {
  if (program.empty())
    return make_error(errc::invalid_request, "no program to start");
  if (program.find('/') != std::string::npos)
    return program;
  std::string_view path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& entry : env)
    if (entry.starts_with("PATH=")) {
      path = std::string_view{entry}.substr(5);
      break;
    }
  while (true) {
    auto colon = path.find(':');
    auto dir = path.substr(0, colon);
    auto candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, program);
    if (is_executable_file(candidate))
      return candidate;
    if (colon == std::string_view::npos)
      break;
    path.remove_prefix(colon + 1);
  }
  return make_error(errc::not_found, fmt::format("'{}' was not found on PATH", program));
}

caf::expected<pid_t> spawn_process(const process_spec& spec) {
  if (spec.argv.empty())
    return make_error(errc::invalid_request, "no program to start");
  auto path = find_executable(spec.argv.front(), spec.env);
  if (!path)
    return std::move(path.error());
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args = spec.argv;
  std::vector<std::string> env = spec.env;
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return make_error(errc::unavailable, "cannot start a process",
                      fmt::format("pipe2: {}", std::strerror(errno)));
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0) {
    auto err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return make_error(errc::unavailable, "cannot start a process",
                      fmt::format("fork: {}", std::strerror(err)));
  }
  if (pid == 0) {
    ::close(report[0]);
    exec_child(path->c_str(), argv.data(), envp.data(), spec, parent, report[1]);
  }
  ::close(report[1]);
  int msg[2] = {0, 0};
  ssize_t n = 0;
  do {
    n = ::read(report[0], msg, sizeof(msg));
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(msg))) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return make_error(errc::unavailable, fmt::format("cannot start '{}'", spec.argv.front()),
                      fmt::format("{} failed: {}", step_name(msg[0]), std::strerror(msg[1])));
  }
  return pid;
}

std::optional<exit_status> try_reap(pid_t pid) {
  int status = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0)
    return std::nullopt;
  if (r < 0) {
    exit_status lost;
    lost.signaled = true;
    return lost;
  }
  return exit_status::from_wait_status(status);
}

std::vector<std::string> environment_entries(const char* const* envp) {
  std::vector<std::string> result;
  if (envp == nullptr)
    return result;
  for (auto p = envp; *p != nullptr; ++p)
    result.emplace_back(*p);
  return result;
}

} // namespace dynamo
