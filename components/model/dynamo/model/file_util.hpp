// Small POSIX file helpers of the model module: an owned descriptor and a file that appears
// under its final name only once it is completely written.
#pragma once

#include <caf/error.hpp>

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace dynamo::model {

/// Owns a file descriptor and closes it on destruction. Not thread-safe.
class unique_fd {
public:
  /// Takes ownership of `fd` (-1 for none).
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  ~unique_fd();
  unique_fd(unique_fd&& other) noexcept;
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  /// The descriptor, still owned.
  int get() const noexcept { return fd_; }

  /// True when a descriptor is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }

  /// Closes the held descriptor now; returns 0 or the errno of close().
  int close() noexcept;

private:
  int fd_;
};

/// Writes a file to a temporary name beside `path`, then renames it into place on commit();
/// destroyed uncommitted, it removes the temporary. One thread at a time.
class atomic_file {
public:
  atomic_file() = default;
  ~atomic_file();
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  /// Creates the temporary file. Errors: invalid_request naming `path` and the OS reason.
  caf::error create(const std::filesystem::path& path);

  /// Appends `bytes`. Errors: invalid_request naming the file and the OS reason.
  caf::error write(std::span<const std::byte> bytes);

  /// Closes the temporary and renames it to the final path. Errors: invalid_request.
  caf::error commit();

private:
  std::filesystem::path path_;
  std::string temp_;
  unique_fd fd_;
};

/// Writes `text` to `path` atomically (see atomic_file). Errors: invalid_request.
caf::error write_text_file(const std::filesystem::path& path, std::string_view text);

} // namespace dynamo::model
