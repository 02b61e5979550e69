// Child processes (the launcher's components, test servers): spawned with fork/exec so that
// each can be tied to its parent's life (PR_SET_PDEATHSIG), put into its own process group and given an explicit
// environment; reaped only by pid, never with waitpid(-1), so other owners' children are safe.
#pragma once

#include <caf/expected.hpp>

#include <sys/types.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

namespace dynamo {

/// What to start.
struct process_spec {
  /// The program (argv[0] is the executable: a path, or a name looked up on PATH of `env`) and
  /// its arguments. Must not be empty.
  std::vector<std::string> argv;
  /// The complete environment of the child, "NAME=value" entries.
  std::vector<std::string> env;
  /// Signal the child receives when the thread that spawned it ends (0: none).
  int parent_death_signal = SIGKILL;
  /// Puts the child into a process group of its own, so that a terminal's Ctrl-C reaches only
  /// the parent, which then stops its children in order.
  bool own_process_group = true;
  /// File receiving the child's stdout and stderr (appended); empty: inherit the parent's.
  std::string output_path;
  /// File receiving the child's stderr instead (appended); empty: as stdout.
  std::string error_path;
};

/// How a child ended.
struct exit_status {
  bool signaled = false;  ///< true: killed by `signal`; false: exited with `code`.
  int code = 0;           ///< Exit code when !signaled.
  int signal = 0;         ///< Signal number when signaled.

  /// True for an exit with code 0.
  bool success() const noexcept { return !signaled && code == 0; }
  /// "exited with code 3" / "killed by signal 9 (SIGKILL)".
  std::string to_string() const;
  /// Decodes a waitpid() status.
  static exit_status from_wait_status(int status) noexcept;
};

/// Resolves `program` like execvp would, but with PATH taken from `env` ("NAME=value" entries)
/// instead of this process's environment. A name containing '/' is returned as is. Errors:
/// not_found when no executable file of that name is on PATH. Any thread.
caf::expected<std::string> find_executable(const std::string& program,
                                           const std::vector<std::string>& env);

/// Starts a child. SIGINT/SIGTERM/SIGPIPE are reset to their defaults and unblocked in the child,
/// stdin is /dev/null. Returns once exec() succeeded or failed. Errors: invalid_request for an
/// empty argv; not_found when the program cannot be found; unavailable when fork or exec fails
/// (detail carries errno's text). Any thread; with parent_death_signal set, the child receives
/// the signal when the *calling thread* ends, so spawn from a thread that outlives the child.
caf::expected<pid_t> spawn_process(const process_spec& spec);

/// Reaps `pid` if it has exited (non-blocking). nullopt while it runs. An unknown pid (not a
/// child, or already reaped) is reported as killed by signal 0. Any thread.
std::optional<exit_status> try_reap(pid_t pid);

/// The current environment of this process as "NAME=value" entries from main's `envp`.
std::vector<std::string> environment_entries(const char* const* envp);

} // namespace dynamo
