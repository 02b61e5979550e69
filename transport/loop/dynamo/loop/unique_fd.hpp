// An owned POSIX file descriptor, closed on destruction.
#pragma once

#include <unistd.h>

#include <utility>

namespace dynamo::loop {

/// Owns one file descriptor (or none, -1). Move-only; not thread-safe.
class unique_fd {
public:
  unique_fd() noexcept = default;

  /// Takes ownership of `fd` (-1 for none).
  explicit unique_fd(int fd) noexcept : fd_(fd) {
  }

  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {
  }

  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other)
      reset(std::exchange(other.fd_, -1));
    return *this;
  }

  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  ~unique_fd() {
    reset();
  }

  /// The descriptor, still owned; -1 when empty.
  int get() const noexcept {
    return fd_;
  }

  /// True when a descriptor is owned.
  explicit operator bool() const noexcept {
    return fd_ >= 0;
  }

  /// Gives up ownership and returns the descriptor.
  int release() noexcept {
    return std::exchange(fd_, -1);
  }

  /// Closes the owned descriptor, then owns `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

} // namespace dynamo::loop
