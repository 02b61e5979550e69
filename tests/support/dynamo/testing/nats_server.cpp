#include "dynamo/testing/nats_server.hpp"

#include "dynamo/error.hpp"
#include "dynamo/process.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace dynamo::testing {

namespace {

std::filesystem::path make_temp_dir() {
  auto tmpl = (std::filesystem::temp_directory_path() / "dynamo-nats-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("nats_server: mkdtemp failed for " + tmpl);
  return std::filesystem::path{buf.data()};
}

// Reads "nats://host:port" from the ports file once it holds complete JSON.
std::string read_ports_file(const std::filesystem::path& file) {
  std::ifstream in{file};
  if (!in)
    return {};
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = nlohmann::json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.contains("nats") || !doc["nats"].is_array()
      || doc["nats"].empty() || !doc["nats"][0].is_string())
    return {};
  return doc["nats"][0].get<std::string>();
}

} // namespace

nats_server::nats_server(std::chrono::milliseconds start_timeout) : dir_(make_temp_dir()) {
  try {
    spawn("-1", start_timeout);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

nats_server::~nats_server() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void nats_server::stop() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2}); // polling a child's exit
  }
  pid_ = -1;
}

void nats_server::restart(std::chrono::milliseconds start_timeout) {
  stop();
  spawn(std::to_string(port_), start_timeout);
}

void nats_server::spawn(const std::string& port_arg, std::chrono::milliseconds start_timeout) {
  auto store = (dir_ / "store").string();
  auto ports_dir = dir_.string();
  std::vector<std::string> args{"nats-server", "-a", "127.0.0.1", "-p", port_arg, "-js",
                                "-sd", store, "--ports_file_dir", ports_dir};
  process_spec spec;
  spec.argv = std::move(args);
  spec.env = environment_entries(environ);
  spec.own_process_group = false;
  spec.output_path = "/dev/null";
  spec.error_path = (dir_ / "server.log").string();
  // parent_death_signal (SIGKILL): the server never outlives a test binary that aborts.
  auto pid = spawn_process(spec);
  if (!pid)
    throw std::runtime_error("nats_server: cannot spawn nats-server (is it installed?): "
                             + describe(pid.error()));
  pid_ = *pid;
  auto ports_file = dir_ / ("nats-server_" + std::to_string(pid_) + ".ports");
  auto deadline = std::chrono::steady_clock::now() + start_timeout;
  for (;;) {
    auto found = read_ports_file(ports_file);
    if (!found.empty()) {
      url_ = found;
      auto colon = url_.rfind(':');
      port_ = static_cast<uint16_t>(std::stoi(url_.substr(colon + 1)));
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("nats_server: nats-server exited during start-up; see "
                               + (dir_ / "server.log").string());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("nats_server: no ports file from nats-server within "
                               + std::to_string(start_timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5}); // polling for the ports file
  }
}

} // namespace dynamo::testing
