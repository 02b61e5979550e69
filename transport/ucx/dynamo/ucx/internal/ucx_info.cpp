#include "dynamo/ucx/internal/ucx_info.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace dynamo::ucx::internal {

namespace {

/// Captures what a UCX print function writes to a FILE*.
template <class Print>
std::string capture(Print print) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  if (f == nullptr)
    return {};
  print(f);
  std::fclose(f);
  std::string result{buf, len};
  std::free(buf);
  return result;
}

} // namespace

/// The transports ("tl/device") of ucp_context_print_info's resource lines.
std::string transports_of(ucp_context_h context) {
  auto info = capture([context](FILE* f) { ucp_context_print_info(context, f); });
  std::istringstream in{info};
  std::string line;
  std::vector<std::string> names;
  while (std::getline(in, line)) {
    if (line.find("resource") == std::string::npos)
      continue;
    auto pos = line.find_last_of(' ');
    auto name = line.substr(pos == std::string::npos ? 0 : pos + 1);
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  }
  return fmt::format("{}", fmt::join(names, ", "));
}

/// The lane lines of ucp_ep_print_info, joined.
std::string lanes_of(ucp_ep_h ep) {
  auto info = capture([ep](FILE* f) { ucp_ep_print_info(ep, f); });
  std::istringstream in{info};
  std::string line;
  std::vector<std::string> lanes;
  while (std::getline(in, line)) {
    if (line.find("lane[") == std::string::npos)
      continue;
    // "lane[0]:  3:sysv/memory.0 md[2] -> md[2]/sysv/sysdev[255] am am_bw#0"
    std::istringstream words{line.substr(line.find("lane["))};
    std::vector<std::string> w{std::istream_iterator<std::string>{words},
                               std::istream_iterator<std::string>{}};
    if (w.size() < 2)
      continue;
    auto colon = w[1].find(':');
    auto transport = colon == std::string::npos ? w[1] : w[1].substr(colon + 1);
    std::vector<std::string> uses;
    for (size_t i = 5; i < w.size(); ++i)
      uses.push_back(w[i]);
    lanes.push_back(uses.empty() ? transport
                                 : fmt::format("{} ({})", transport, fmt::join(uses, " ")));
  }
  return fmt::format("{}", fmt::join(lanes, ", "));
}

} // namespace dynamo::ucx::internal
