#include "dynamo/nats/internal/record_codec.hpp"

#include "dynamo/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace dynamo::nats::detail {

namespace {

caf::error bad(std::string what) {
  return make_error(errc::invalid_request, "malformed discovery record", std::move(what));
}

} // namespace

std::string encode_record(const stored_record& x) {
  nlohmann::json doc;
  doc["v"] = 1;
  doc["ns"] = x.record.component.ns;
  doc["component"] = x.record.component.component;
  doc["instance"] = x.record.instance.to_string();
  doc["metadata"] = x.record.metadata;
  doc["ttl_ms"] = x.ttl.count();
  doc["lease"] = x.lease_tag;
  doc["beat"] = x.beat;
  return doc.dump();
}

caf::expected<stored_record> decode_record(std::string_view bytes) {
  auto doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return bad("value is not a JSON object");
  auto str = [&doc](const char* name) -> const std::string* {
    auto i = doc.find(name);
    return i != doc.end() && i->is_string() ? i->get_ptr<const std::string*>() : nullptr;
  };
  auto uint = [&doc](const char* name) -> const uint64_t* {
    auto i = doc.find(name);
    return i != doc.end() && i->is_number_unsigned() ? i->get_ptr<const uint64_t*>() : nullptr;
  };
  const auto* ns = str("ns");
  const auto* component = str("component");
  const auto* instance = str("instance");
  const auto* lease = str("lease");
  const auto* ttl = uint("ttl_ms");
  const auto* beat = uint("beat");
  auto version = uint("v");
  if (version == nullptr || *version != 1)
    return bad("missing or unsupported version 'v'");
  if (!ns || !component || !instance || !lease || !ttl || !beat)
    return bad("missing or mistyped field (ns, component, instance, lease, ttl_ms, beat)");
  auto meta = doc.find("metadata");
  if (meta == doc.end() || !meta->is_object())
    return bad("missing or mistyped field 'metadata'");
  stored_record result;
  for (const auto& [k, v] : meta->items()) {
    if (!v.is_string())
      return bad("metadata value of '" + k + "' is not a string");
    result.record.metadata.emplace(k, v.get<std::string>());
  }
  auto id = instance_id::parse(*instance);
  if (!id)
    return bad("invalid instance id");
  result.record.component = component_id{*ns, *component};
  result.record.instance = *id;
  if (auto err = validate_record(result.record))
    return bad("invalid record: " + operator_detail(err));
  if (*ttl < static_cast<uint64_t>(min_lease_ttl.count()) || *ttl > (uint64_t{1} << 40))
    return bad("ttl_ms out of range");
  result.ttl = std::chrono::milliseconds{static_cast<int64_t>(*ttl)};
  result.lease_tag = *lease;
  result.beat = *beat;
  return result;
}

std::string to_kv_key(std::string_view record_key) {
  std::string result{record_key};
  std::replace(result.begin(), result.end(), '/', '.');
  return result;
}

std::string from_kv_key(std::string_view kv_key) {
  std::string result{kv_key};
  std::replace(result.begin(), result.end(), '.', '/');
  return result;
}

} // namespace dynamo::nats::detail
