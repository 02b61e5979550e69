// Fuzz target: typed registration metadata (dynamo::instance_registration::from_metadata), the
// map every peer decodes from another replica's discovery record. Input: lines "key=value"
// (split at the first '='; a line without '=' is a key with an empty value; the first of
// duplicate keys wins). Accepted metadata must round-trip through to_metadata() canonically.
#include "dynamo/fuzz/check.hpp"
#include "dynamo/ids.hpp"
#include "dynamo/plane/registration.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = dynamo::fuzz::as_text(data, size);
  std::map<std::string, std::string> metadata;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto eq = line.find('=');
    auto value = eq == std::string_view::npos ? std::string_view{} : line.substr(eq + 1);
    metadata.emplace(std::string{line.substr(0, eq)}, std::string{value});
  }
  auto reg = dynamo::instance_registration::from_metadata(metadata);
  if (!reg)
    return 0;
  for (const auto& [key, value] : metadata)
    if (!dynamo::is_reserved_registration_key(key))
      DYNAMO_FUZZ_CHECK(reg->extra.count(key) == 1 && reg->extra.at(key) == value,
                        "unreserved keys are kept verbatim in extra");
  for (const auto& [name, version] : reg->endpoints)
    DYNAMO_FUZZ_CHECK(dynamo::is_valid_name(name) && version >= 1,
                      "endpoints have valid names and versions >= 1");
  if (!reg->rpc_address.empty())
    DYNAMO_FUZZ_CHECK(dynamo::is_valid_host_port(reg->rpc_address), "rpc_address is host:port");
  auto canonical = reg->to_metadata();
  auto back = dynamo::instance_registration::from_metadata(canonical);
  DYNAMO_FUZZ_CHECK(back, "to_metadata output must decode");
  DYNAMO_FUZZ_CHECK(*back == *reg, "from(to(x)) == x");
  DYNAMO_FUZZ_CHECK(back->to_metadata() == canonical, "to_metadata is canonical");
  return 0;
}
