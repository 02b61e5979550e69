#include "dynamo/model/file_util.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dynamo::model {

namespace {

caf::error io_error(std::string_view what, const std::string& file, int err) {
  return make_error(errc::invalid_request,
                    fmt::format("cannot {} {}: {}", what, file, std::strerror(err)));
}

} // namespace

unique_fd::~unique_fd() {
  close();
}

unique_fd::unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

int unique_fd::close() noexcept {
  if (fd_ < 0)
    return 0;
  const int rc = ::close(std::exchange(fd_, -1));
  return rc == 0 ? 0 : errno;
}

atomic_file::~atomic_file() {
  if (!temp_.empty()) {
    fd_.close();
    ::unlink(temp_.c_str());
  }
}

caf::error atomic_file::create(const std::filesystem::path& path) {
  if (!temp_.empty())
    on_internal_error("atomic_file::create called twice");
  path_ = path;
  std::string pattern = path.string() + ".partial-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  if (fd < 0)
    return io_error("create", path.string(), errno);
  fd_ = unique_fd{fd};
  temp_.assign(buf.data());
  ::fchmod(fd, 0644);
  return {};
}

caf::error atomic_file::write(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("write", path_.string(), errno);
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return {};
}

caf::error atomic_file::commit() {
  if (const int err = fd_.close(); err != 0)
    return io_error("write", path_.string(), err);
  if (::rename(temp_.c_str(), path_.c_str()) != 0)
    return io_error("rename into", path_.string(), errno);
  temp_.clear();
  return {};
}

caf::error write_text_file(const std::filesystem::path& path, std::string_view text) {
  atomic_file out;
  if (auto err = out.create(path))
    return err;
  if (auto err = out.write(std::as_bytes(std::span{text.data(), text.size()})))
    return err;
  return out.commit();
}

} // namespace dynamo::model
