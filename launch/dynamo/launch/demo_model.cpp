#include "dynamo/launch/demo_model.hpp"

#include <string_view>

namespace dynamo {

namespace {

// The value of `name` in `envp`, or "".
std::string_view env_value(char** envp, std::string_view name) {
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry{*e};
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
      return entry.substr(name.size() + 1);
  }
  return {};
}

} // namespace

std::filesystem::path demo_model_dir(char** envp) {
  std::filesystem::path base;
  if (auto xdg = env_value(envp, "XDG_CACHE_HOME"); !xdg.empty())
    base = xdg;
  else if (auto home = env_value(envp, "HOME"); !home.empty())
    base = std::filesystem::path{home} / ".cache";
  else
    base = ".cache";
  return base / "libdynamo" / "models" / "tiny";
}

} // namespace dynamo
