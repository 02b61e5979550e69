#include "dynamo/launch/demo_model.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

// An envp-style array over `entries` (valid while `entries` lives).
std::vector<char*> envp_of(std::vector<std::string>& entries) {
  std::vector<char*> out;
  for (auto& e : entries)
    out.push_back(e.data());
  out.push_back(nullptr);
  return out;
}

TEST(demo_model_dir, prefers_xdg_cache_home_then_home_then_the_working_directory) {
  std::vector<std::string> both{"HOME=/home/u", "XDG_CACHE_HOME=/xdg", "XDG_CACHE_HOMEX=/no"};
  EXPECT_EQ(dynamo::demo_model_dir(envp_of(both).data()), "/xdg/libdynamo/models/tiny");
  std::vector<std::string> home{"HOMEDIR=/no", "HOME=/home/u"};
  EXPECT_EQ(dynamo::demo_model_dir(envp_of(home).data()), "/home/u/.cache/libdynamo/models/tiny");
  std::vector<std::string> none{"HOME=", "PATH=/bin"};
  EXPECT_EQ(dynamo::demo_model_dir(envp_of(none).data()), ".cache/libdynamo/models/tiny");
  EXPECT_EQ(dynamo::demo_model_dir(nullptr), ".cache/libdynamo/models/tiny");
}

} // namespace
