#include "dynamo/kv_router/sync_codec.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <limits>
#include <optional>
#include <utility>

namespace dynamo::kv_router {

namespace {

using json = nlohmann::json;

constexpr uint64_t format_version = 1;

/// Longest router id accepted.
constexpr size_t max_router_chars = 64;

caf::error invalid(std::string detail) {
  return make_error(errc::invalid_request, "malformed router sync message", std::move(detail));
}

/// Unsigned integer value of `x` if it is a non-negative JSON integer (not a float or bool).
std::optional<uint64_t> to_u64(const json& x) {
  if (x.is_number_unsigned())
    return x.get<uint64_t>();
  if (x.is_number_integer() && x.get<int64_t>() >= 0)
    return static_cast<uint64_t>(x.get<int64_t>());
  return std::nullopt;
}

/// Typed reads of one event object; the first problem is kept, prefixed with the event index.
class event_reader {
public:
  event_reader(const json& obj, size_t index) : obj_(obj), index_(index) {}

  const json* field(std::string_view key) {
    auto i = obj_.find(key);
    if (i == obj_.end()) {
      fail(fmt::format("'{}' is missing", key));
      return nullptr;
    }
    return &*i;
  }

  uint64_t u64(std::string_view key) {
    const json* x = field(key);
    if (x == nullptr)
      return 0;
    if (auto v = to_u64(*x))
      return *v;
    fail(fmt::format("'{}' must be an integer in [0, 2^64)", key));
    return 0;
  }

  uint32_t u32(std::string_view key) {
    const json* x = field(key);
    if (x == nullptr)
      return 0;
    if (auto v = to_u64(*x); v && *v <= std::numeric_limits<uint32_t>::max())
      return static_cast<uint32_t>(*v);
    fail(fmt::format("'{}' must be an integer in [0, 2^32)", key));
    return 0;
  }

  std::string string(std::string_view key) {
    const json* x = field(key);
    if (x == nullptr)
      return {};
    if (x->is_string())
      return x->get<std::string>();
    fail(fmt::format("'{}' must be a string", key));
    return {};
  }

  std::vector<uint64_t> u64_list(std::string_view key) {
    std::vector<uint64_t> out;
    const json* x = field(key);
    if (x == nullptr)
      return out;
    if (!x->is_array()) {
      fail(fmt::format("'{}' must be a list of integers", key));
      return out;
    }
    out.reserve(x->size());
    for (const auto& item : *x) {
      auto v = to_u64(item);
      if (!v) {
        fail(fmt::format("'{}' must be a list of integers in [0, 2^64)", key));
        return {};
      }
      out.push_back(*v);
    }
    return out;
  }

  void fail(std::string message) {
    if (!error_)
      error_ = invalid(fmt::format("event {}: {}", index_, message));
  }

  caf::error take_error() { return std::move(error_); }

private:
  const json& obj_;
  size_t index_;
  caf::error error_;
};

std::optional<sync_event::kind> parse_kind(std::string_view s) {
  if (s == "route")
    return sync_event::kind::route;
  if (s == "prefill_done")
    return sync_event::kind::prefill_done;
  if (s == "finish")
    return sync_event::kind::finish;
  return std::nullopt;
}

caf::expected<sync_event> decode_event(const json& obj, size_t index) {
  if (!obj.is_object())
    return invalid(fmt::format("event {}: not a JSON object", index));
  event_reader r{obj, index};
  sync_event ev;
  auto type = r.string("type");
  ev.router = r.string("router");
  ev.request = r.u64("request");
  if (auto err = r.take_error())
    return err;
  auto k = parse_kind(type);
  if (!k)
    return invalid(fmt::format("event {}: unknown type '{}'", index, type));
  if (ev.router.empty() || ev.router.size() > max_router_chars)
    return invalid(
      fmt::format("event {}: 'router' must have 1 to {} characters", index, max_router_chars));
  ev.type = *k;
  if (ev.type != sync_event::kind::route)
    return ev;
  ev.route.id = ev.request;
  ev.route.worker = r.u64("worker");
  ev.route.prompt_hashes = r.u64_list("prompt_hashes");
  ev.route.prompt_tokens = r.u32("prompt_tokens");
  ev.route.prefill_tokens = r.u32("prefill_tokens");
  ev.route.expected_output_tokens = r.u32("expected_output_tokens");
  if (auto err = r.take_error())
    return err;
  if (ev.route.prompt_hashes.size() > ev.route.prompt_tokens)
    return invalid(fmt::format("event {}: {} prompt_hashes for {} prompt_tokens", index,
                               ev.route.prompt_hashes.size(), ev.route.prompt_tokens));
  if (ev.route.prefill_tokens > ev.route.prompt_tokens)
    return invalid(fmt::format("event {}: prefill_tokens {} exceed prompt_tokens {}", index,
                               ev.route.prefill_tokens, ev.route.prompt_tokens));
  return ev;
}

} // namespace

std::string_view to_string(sync_event::kind k) noexcept {
  switch (k) {
    case sync_event::kind::route:
      return "route";
    case sync_event::kind::prefill_done:
      return "prefill_done";
    case sync_event::kind::finish:
      return "finish";
  }
  return "unknown";
}

std::string encode_sync(const std::vector<sync_event>& batch) {
  json events = json::array();
  for (const auto& ev : batch) {
    json e = {{"type", to_string(ev.type)}, {"router", ev.router}, {"request", ev.request}};
    if (ev.type == sync_event::kind::route) {
      e["worker"] = ev.route.worker;
      e["prompt_hashes"] = ev.route.prompt_hashes;
      e["prompt_tokens"] = ev.route.prompt_tokens;
      e["prefill_tokens"] = ev.route.prefill_tokens;
      e["expected_output_tokens"] = ev.route.expected_output_tokens;
    }
    events.push_back(std::move(e));
  }
  json doc = {{"v", format_version}, {"events", std::move(events)}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

caf::expected<std::vector<sync_event>> decode_sync(std::string_view bytes) {
  if (bytes.size() > max_sync_bytes)
    return invalid(fmt::format("{} bytes exceed the limit of {}", bytes.size(), max_sync_bytes));
  json doc;
  try {
    doc = json::parse(bytes);
  } catch (const json::exception& e) {
    return invalid(fmt::format("not valid JSON: {}", e.what()));
  }
  if (!doc.is_object())
    return invalid("not a JSON object");
  auto v = doc.find("v");
  if (v == doc.end())
    return invalid("'v' (format version) is missing");
  if (auto version = to_u64(*v); !version || *version != format_version)
    return invalid(fmt::format("unsupported format version {} (expected {})",
                               v->dump(-1, ' ', false, json::error_handler_t::replace),
                               format_version));
  auto events = doc.find("events");
  if (events == doc.end() || !events->is_array())
    return invalid("'events' must be a list");
  std::vector<sync_event> out;
  out.reserve(events->size());
  for (size_t i = 0; i < events->size(); ++i) {
    auto ev = decode_event((*events)[i], i);
    if (!ev)
      return std::move(ev.error());
    out.push_back(std::move(*ev));
  }
  return out;
}

} // namespace dynamo::kv_router
