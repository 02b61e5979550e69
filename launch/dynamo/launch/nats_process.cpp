#include "dynamo/launch/nats_process.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace dynamo::launch {

namespace {

using std::chrono::steady_clock;

caf::expected<std::filesystem::path> make_temp_dir() {
  std::error_code ec;
  auto base = std::filesystem::temp_directory_path(ec);
  if (ec)
    base = "/tmp";
  auto tmpl = (base / "dynamo-nats-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    return make_error(errc::unavailable, "cannot create a directory for nats-server",
                      fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)));
  return std::filesystem::path{buf.data()};
}

/// The port in the ports file nats-server writes once it listens ({"nats":["nats://h:p"],...});
/// 0 while the file is absent or incomplete.
uint16_t read_ports_file(const std::filesystem::path& file) {
  std::ifstream in{file};
  if (!in)
    return 0;
  std::stringstream ss;
  ss << in.rdbuf();
  auto text = ss.str();
  auto key = text.find("\"nats\"");
  if (key == std::string::npos)
    return 0;
  auto scheme = text.find("nats://", key + 6);
  if (scheme == std::string::npos)
    return 0;
  auto end = text.find('"', scheme);
  auto colon = text.rfind(':', end);
  if (end == std::string::npos || colon == std::string::npos || colon < scheme + 7)
    return 0;
  auto digits = text.substr(colon + 1, end - colon - 1);
  char* stop = nullptr;
  auto port = std::strtoul(digits.c_str(), &stop, 10);
  if (digits.empty() || *stop != '\0' || port == 0 || port > 65535)
    return 0;
  return static_cast<uint16_t>(port);
}

/// True when a TCP connection to host:port succeeds.
bool accepts(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  bool ok = ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1
            && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

} // namespace

caf::expected<std::unique_ptr<nats_process>> nats_process::start(nats_process_options opts) {
  if (!opts.log)
    opts.log = default_logger("nats-server");
  auto dir = make_temp_dir();
  if (!dir)
    return std::move(dir.error());
  std::unique_ptr<nats_process> result{new nats_process(std::move(opts), std::move(*dir))};
  if (auto err = result->spawn())
    return err; // the destructor removes the directory
  return result;
}

nats_process::nats_process(nats_process_options opts, std::filesystem::path dir)
  : opts_(std::move(opts)), dir_(std::move(dir)), port_(opts_.port) {
}

nats_process::~nats_process() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec)
    opts_.log->warn("cannot remove {}: {}", dir_.string(), ec.message());
}

bool nats_process::running() {
  if (pid_ <= 0)
    return false;
  if (auto status = try_reap(pid_)) {
    opts_.log->warn("nats-server (pid {}) {}; its log: {}", pid_, status->to_string(),
                    (dir_ / "server.log").string());
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<exit_status> nats_process::stop() {
  if (pid_ <= 0)
    return std::nullopt;
  ::kill(pid_, SIGINT); // a graceful shutdown that exits 0 (SIGTERM exits 1)
  auto deadline = steady_clock::now() + opts_.stop_timeout;
  std::optional<exit_status> status;
  while (!(status = try_reap(pid_))) {
    if (steady_clock::now() >= deadline) {
      opts_.log->warn("nats-server (pid {}) did not stop within {} ms; killing it", pid_,
                      opts_.stop_timeout.count());
      ::kill(pid_, SIGKILL);
      while (!(status = try_reap(pid_)))
        std::this_thread::sleep_for(std::chrono::milliseconds{2}); // polling a child's exit
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5}); // polling a child's exit
  }
  opts_.log->info("nats-server (pid {}) stopped: {}", pid_, status->to_string());
  pid_ = -1;
  return status;
}

caf::error nats_process::restart() {
  stop();
  return spawn();
}

caf::error nats_process::spawn() {
  // Debian installs nats-server to /usr/sbin, which is not on every user's PATH.
  auto binary = find_executable(opts_.binary, opts_.env);
  if (!binary && opts_.binary.find('/') == std::string::npos)
    binary = find_executable(opts_.binary, {"PATH=/usr/local/sbin:/usr/sbin:/sbin"});
  if (!binary)
    return std::move(binary.error());
  auto store = (dir_ / "store").string();
  auto port_arg = port_ == 0 ? std::string{"-1"} : std::to_string(port_);
  process_spec spec;
  spec.argv = {*binary, "-js", "-a", opts_.host, "-p", port_arg, "-sd", store,
               "--ports_file_dir", dir_.string()};
  spec.env = opts_.env;
  spec.parent_death_signal = SIGTERM;
  spec.output_path = (dir_ / "server.log").string();
  auto pid = spawn_process(spec);
  if (!pid)
    return std::move(pid.error());
  pid_ = *pid;
  auto ports_file = dir_ / fmt::format("{}_{}.ports",
                                       std::filesystem::path{*binary}.filename().string(),
                                       pid_);
  auto deadline = steady_clock::now() + opts_.start_timeout;
  while (true) {
    if (auto found = read_ports_file(ports_file); found != 0 && accepts(opts_.host, found)) {
      port_ = found;
      url_ = fmt::format("nats://{}:{}", opts_.host, port_);
      opts_.log->info("nats-server (pid {}) accepts connections at {} (store {})", pid_, url_,
                      store);
      return caf::none;
    }
    if (auto status = try_reap(pid_)) {
      pid_ = -1;
      return make_error(errc::unavailable, "nats-server could not start",
                        fmt::format("nats-server {} during start-up; see {}", status->to_string(),
                                    (dir_ / "server.log").string()));
    }
    if (steady_clock::now() >= deadline) {
      stop();
      return make_error(errc::unavailable, "nats-server could not start",
                        fmt::format("nats-server did not accept connections within {} ms; see {}",
                                    opts_.start_timeout.count(),
                                    (dir_ / "server.log").string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10}); // polling for the ports file
  }
}

} // namespace dynamo::launch
