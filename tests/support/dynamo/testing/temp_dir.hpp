// Test helper: a fresh directory under the system temp dir, removed with everything in it.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

namespace dynamo::testing {

/// Creates a unique empty directory on construction and removes it recursively on
/// destruction. One per test; not thread-safe.
class temp_dir {
public:
  /// Makes `<temp>/dynamo-test-<tag>-<pid>-<n>`.
  explicit temp_dir(std::string_view tag) {
    static std::atomic<unsigned> counter{0};
    path_ = std::filesystem::temp_directory_path()
            / ("dynamo-test-" + std::string{tag} + "-" + std::to_string(::getpid()) + "-"
               + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The directory.
  const std::filesystem::path& path() const noexcept { return path_; }

  /// `path() / name`.
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

} // namespace dynamo::testing
