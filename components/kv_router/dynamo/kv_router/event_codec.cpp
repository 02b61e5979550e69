#include "dynamo/kv_router/event_codec.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace dynamo::kv_router {

namespace {

using json = nlohmann::json;
using engine::kv_event;

// -- encoding ---------------------------------------------------------------------------------

/// Appends text to a buffer without formatting.
class writer {
public:
  explicit writer(size_t reserve) {
    out_.reserve(reserve);
  }

  writer& raw(std::string_view text) {
    out_.append(text.data(), text.data() + text.size());
    return *this;
  }

  writer& number(uint64_t value) {
    fmt::format_int digits{value};
    out_.append(digits.data(), digits.data() + digits.size());
    return *this;
  }

  std::string str() const {
    return fmt::to_string(out_);
  }

private:
  fmt::memory_buffer out_;
};

void encode_stored(writer& w, const kv_event& ev) {
  w.raw(R"({"stored":{"parent_hash":)");
  if (ev.parent_hash)
    w.number(*ev.parent_hash);
  else
    w.raw("null");
  w.raw(R"(,"blocks":[)");
  const bool with_tokens = ev.token_hashes.size() == ev.block_hashes.size();
  for (size_t i = 0; i < ev.block_hashes.size(); ++i) {
    w.raw(i == 0 ? R"({"block_hash":)" : R"(,{"block_hash":)").number(ev.block_hashes[i]);
    if (with_tokens)
      w.raw(R"(,"tokens_hash":)").number(ev.token_hashes[i]);
    w.raw("}");
  }
  w.raw("]}}");
}

void encode_removed(writer& w, const kv_event& ev) {
  w.raw(R"({"removed":{"block_hashes":[)");
  for (size_t i = 0; i < ev.block_hashes.size(); ++i) {
    if (i > 0)
      w.raw(",");
    w.number(ev.block_hashes[i]);
  }
  w.raw("]}}");
}

// -- decoding ---------------------------------------------------------------------------------
// A SAX reader: it checks the document while the parser walks it, builds no DOM and stops at
// the first problem (a batch of a million events is refused at the first event too many).

constexpr uint64_t u64_max = std::numeric_limits<uint64_t>::max();

caf::error invalid(std::string_view field, std::string_view problem) {
  return make_error(errc::invalid_request,
                    fmt::format("invalid KV event batch: {}: {}", field, problem));
}

/// What kind of JSON value arrived (numbers split by what they can hold).
enum class value_kind : uint8_t { null, boolean, negative, fraction, number, string, object,
                                  array, binary };

std::string_view kind_name(value_kind k) noexcept {
  switch (k) {
    case value_kind::null:
      return "null";
    case value_kind::boolean:
      return "boolean";
    case value_kind::negative:
    case value_kind::fraction:
    case value_kind::number:
      return "number";
    case value_kind::string:
      return "string";
    case value_kind::object:
      return "object";
    case value_kind::array:
      return "array";
    case value_kind::binary:
      break;
  }
  return "binary";
}

/// The innermost open container.
enum class scope : uint8_t { batch, events, event, data, stored, blocks, block, removed, hashes };

/// The member whose value comes next.
enum class member_id : uint8_t { none, skip, worker_id, block_size, storage_tier, events,
                                 event_id, data, stored, removed, parent_hash, blocks, block_hash,
                                 tokens_hash, block_hashes };

constexpr uint32_t bit(member_id m) noexcept {
  return uint32_t{1} << static_cast<uint32_t>(m);
}

member_id lookup(scope s, std::string_view key) noexcept {
  switch (s) {
    case scope::batch:
      if (key == "worker_id")
        return member_id::worker_id;
      if (key == "block_size")
        return member_id::block_size;
      if (key == "storage_tier")
        return member_id::storage_tier;
      if (key == "events")
        return member_id::events;
      break;
    case scope::event:
      if (key == "event_id")
        return member_id::event_id;
      if (key == "data")
        return member_id::data;
      break;
    case scope::data:
      if (key == "stored")
        return member_id::stored;
      if (key == "removed")
        return member_id::removed;
      return member_id::none;  // an unknown event kind, not an extension
    case scope::stored:
      if (key == "parent_hash")
        return member_id::parent_hash;
      if (key == "blocks")
        return member_id::blocks;
      break;
    case scope::block:
      if (key == "block_hash")
        return member_id::block_hash;
      if (key == "tokens_hash")
        return member_id::tokens_hash;
      break;
    case scope::removed:
      if (key == "block_hashes")
        return member_id::block_hashes;
      break;
    case scope::events:
    case scope::blocks:
    case scope::hashes:
      break;
  }
  return member_id::skip;
}

class batch_reader {
public:
  batch_reader(event_batch& out, size_t max_events) : out_(out), max_events_(max_events) {
    frames_.reserve(8);
  }

  /// The first problem found; empty while the document is fine.
  caf::error take_error() {
    return std::move(error_);
  }

  // The SAX interface of nlohmann::json::sax_parse; each returns false to stop the parse.

  bool null() {
    return scalar(value_kind::null);
  }
  bool boolean(bool) {
    return scalar(value_kind::boolean);
  }
  bool number_integer(json::number_integer_t) {
    return scalar(value_kind::negative);
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return scalar(value_kind::number, value);
  }
  bool number_float(json::number_float_t, const std::string&) {
    return scalar(value_kind::fraction);
  }
  bool string(std::string& value) {
    return scalar(value_kind::string, 0, &value);
  }
  bool binary(json::binary_t&) {
    return scalar(value_kind::binary);
  }
  bool start_object(std::size_t) {
    return open(value_kind::object);
  }
  bool start_array(std::size_t) {
    return open(value_kind::array);
  }
  bool key(std::string& name) {
    return skip_ > 0 || on_key(name);
  }
  bool end_object() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    return close_object();
  }
  bool end_array() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = make_error(errc::invalid_request, "invalid KV event batch: not JSON", e.what());
    return false;
  }

private:
  struct frame {
    scope where;
    uint32_t seen = 0;     // bits of the members read so far
    uint32_t members = 0;  // data scope: members read so far
  };

  bool fail(std::string field, std::string_view problem) {
    error_ = invalid(field, problem);
    return false;
  }

  kv_event& event() noexcept {
    return out_.events.back();
  }

  /// The name of `m` at the current position ("events[3].data.stored.blocks[2].block_hash").
  std::string path(member_id m) const {
    const auto i = out_.events.empty() ? 0 : out_.events.size() - 1;
    const auto k = out_.events.empty() ? 0 : out_.events.back().block_hashes.size();
    switch (m) {
      case member_id::worker_id:
        return "worker_id";
      case member_id::block_size:
        return "block_size";
      case member_id::storage_tier:
        return "storage_tier";
      case member_id::events:
        return "events";
      case member_id::event_id:
        return fmt::format("events[{}].event_id", i);
      case member_id::data:
        return fmt::format("events[{}].data", i);
      case member_id::stored:
        return fmt::format("events[{}].data.stored", i);
      case member_id::parent_hash:
        return fmt::format("events[{}].data.stored.parent_hash", i);
      case member_id::blocks:
        return fmt::format("events[{}].data.stored.blocks", i);
      case member_id::block_hash:
        return fmt::format("events[{}].data.stored.blocks[{}].block_hash", i, k);
      case member_id::tokens_hash:
        return fmt::format("events[{}].data.stored.blocks[{}].tokens_hash", i, k);
      case member_id::removed:
        return fmt::format("events[{}].data.removed", i);
      case member_id::block_hashes:
        return fmt::format("events[{}].data.removed.block_hashes", i);
      case member_id::none:
      case member_id::skip:
        break;
    }
    return "batch";
  }

  /// The name of the next element of the innermost array.
  std::string element_path() const {
    switch (frames_.back().where) {
      case scope::events:
        return fmt::format("events[{}]", out_.events.size());
      case scope::blocks:
        return fmt::format("{}[{}]", path(member_id::blocks),
                           out_.events.back().block_hashes.size());
      default:
        return fmt::format("{}[{}]", path(member_id::block_hashes),
                           out_.events.back().block_hashes.size());
    }
  }

  bool type_error(std::string field, value_kind got, std::string_view want) {
    return fail(std::move(field), fmt::format("must be {}, not {}", want, kind_name(got)));
  }

  bool read_uint(member_id m, value_kind kind, uint64_t value, uint64_t max, uint64_t& out) {
    if (kind == value_kind::negative || kind == value_kind::fraction)
      return fail(path(m), "must be a non-negative integer");
    if (kind != value_kind::number)
      return type_error(path(m), kind, "a number");
    if (value > max)
      return fail(path(m), fmt::format("{} is out of range (at most {})", value, max));
    out = value;
    return true;
  }

  member_id take_member() noexcept {
    return std::exchange(next_, member_id::none);
  }

  bool scalar(value_kind kind, uint64_t value = 0, const std::string* text = nullptr) {
    if (skip_ > 0)
      return true;
    if (frames_.empty())
      return type_error("batch", kind, "an object");
    switch (frames_.back().where) {
      case scope::events:
      case scope::blocks:
        return type_error(element_path(), kind, "an object");
      case scope::hashes:
        if (kind == value_kind::negative || kind == value_kind::fraction)
          return fail(element_path(), "must be a non-negative integer");
        if (kind != value_kind::number)
          return type_error(element_path(), kind, "a number");
        event().block_hashes.push_back(value);
        return true;
      default:
        return assign(take_member(), kind, value, text);
    }
  }

  bool assign(member_id m, value_kind kind, uint64_t value, const std::string* text) {
    switch (m) {
      case member_id::skip:
        return true;
      case member_id::worker_id:
        return read_uint(m, kind, value, u64_max, out_.worker);
      case member_id::block_size: {
        uint64_t size = 0;
        if (!read_uint(m, kind, value, std::numeric_limits<uint32_t>::max(), size))
          return false;
        if (size == 0)
          return fail(path(m), "must be at least 1");
        out_.block_size = static_cast<uint32_t>(size);
        return true;
      }
      case member_id::storage_tier: {
        if (kind != value_kind::string)
          return type_error(path(m), kind, "a string");
        auto tier = parse_storage_tier(*text);
        if (!tier)
          return fail(path(m), "unknown tier (expected device, host, disk or remote)");
        out_.tier = *tier;
        return true;
      }
      case member_id::event_id:
        return read_event_id(kind, value);
      case member_id::data:
        if (kind == value_kind::string && *text == "cleared") {
          event().type = kv_event::kind::cleared;
          return true;
        }
        return fail(path(m), "must be \"cleared\" or an object holding \"stored\" or \"removed\"");
      case member_id::parent_hash: {
        if (kind == value_kind::null)
          return true;
        uint64_t parent = 0;
        if (!read_uint(m, kind, value, u64_max, parent))
          return false;
        event().parent_hash = parent;
        return true;
      }
      case member_id::block_hash:
        return read_uint(m, kind, value, u64_max, block_hash_);
      case member_id::tokens_hash:
        return read_uint(m, kind, value, u64_max, tokens_hash_);
      case member_id::events:
      case member_id::blocks:
      case member_id::block_hashes:
        return type_error(path(m), kind, "an array");
      case member_id::stored:
      case member_id::removed:
        return type_error(path(m), kind, "an object");
      case member_id::none:
        break;
    }
    on_internal_error("event_codec: a value without a member in an object");
  }

  bool read_event_id(value_kind kind, uint64_t value) {
    auto& ev = event();
    if (!read_uint(member_id::event_id, kind, value, u64_max, ev.event_id))
      return false;
    if (out_.events.size() < 2)
      return true;
    const auto prev = out_.events[out_.events.size() - 2].event_id;
    if (prev == 0 && ev.event_id != 0)
      return fail(path(member_id::event_id), "must be 0 like every id of a snapshot");
    if (prev != 0 && ev.event_id <= prev)
      return fail(path(member_id::event_id),
                  fmt::format("ids must ascend strictly ({} after {})", ev.event_id, prev));
    return true;
  }

  bool open(value_kind kind) {
    if (skip_ > 0) {
      ++skip_;
      return true;
    }
    if (frames_.empty()) {
      if (kind != value_kind::object)
        return type_error("batch", kind, "an object");
      frames_.push_back({scope::batch});
      return true;
    }
    switch (frames_.back().where) {
      case scope::events:
        if (kind != value_kind::object)
          return type_error(element_path(), kind, "an object");
        if (out_.events.size() >= max_events_)
          return fail("events",
                      fmt::format("more events than the limit of {} per batch", max_events_));
        out_.events.emplace_back();
        frames_.push_back({scope::event});
        return true;
      case scope::blocks:
        if (kind != value_kind::object)
          return type_error(element_path(), kind, "an object");
        frames_.push_back({scope::block});
        return true;
      case scope::hashes:
        return type_error(element_path(), kind, "a number");
      default:
        break;
    }
    auto m = take_member();
    auto want = [this, m, kind](value_kind expected, scope inner, std::string_view name) {
      if (kind != expected)
        return type_error(path(m), kind, name);
      frames_.push_back({inner});
      return true;
    };
    switch (m) {
      case member_id::skip:
        skip_ = 1;
        return true;
      case member_id::events:
        return want(value_kind::array, scope::events, "an array");
      case member_id::data:
        if (kind != value_kind::object)
          return assign(m, kind, 0, nullptr);
        frames_.push_back({scope::data});
        return true;
      case member_id::stored:
        event().type = kv_event::kind::stored;
        return want(value_kind::object, scope::stored, "an object");
      case member_id::removed:
        event().type = kv_event::kind::removed;
        return want(value_kind::object, scope::removed, "an object");
      case member_id::blocks:
        return want(value_kind::array, scope::blocks, "an array");
      case member_id::block_hashes:
        return want(value_kind::array, scope::hashes, "an array");
      default:
        return assign(m, kind, 0, nullptr);
    }
  }

  bool on_key(const std::string& name) {
    auto& top = frames_.back();
    auto m = lookup(top.where, name);
    if (top.where == scope::data) {
      if (top.members++ > 0)
        return fail(path(member_id::data),
                    "must hold exactly one of \"stored\" and \"removed\"");
      if (m == member_id::none)
        return fail(path(member_id::data),
                    "unknown event kind (expected \"stored\", \"removed\" or \"cleared\")");
    } else if (m != member_id::skip) {
      if ((top.seen & bit(m)) != 0)
        return fail(path(m), "duplicate key");
      top.seen |= bit(m);
    }
    next_ = m;
    return true;
  }

  bool require(const frame& f, member_id m) {
    return (f.seen & bit(m)) != 0 || fail(path(m), "missing");
  }

  bool close_object() {
    auto f = frames_.back();
    frames_.pop_back();
    switch (f.where) {
      case scope::batch:
        return require(f, member_id::worker_id) && require(f, member_id::block_size)
               && require(f, member_id::storage_tier) && require(f, member_id::events);
      case scope::event:
        return require(f, member_id::event_id) && require(f, member_id::data);
      case scope::data:
        return f.members > 0
               || fail(path(member_id::data),
                       "must hold exactly one of \"stored\" and \"removed\"");
      case scope::stored:
        return require(f, member_id::blocks);
      case scope::removed:
        return require(f, member_id::block_hashes);
      case scope::block:
        return close_block(f);
      default:
        return true;
    }
  }

  bool close_block(const frame& f) {
    if (!require(f, member_id::block_hash))
      return false;
    auto& ev = event();
    const bool with_tokens = (f.seen & bit(member_id::tokens_hash)) != 0;
    if (ev.block_hashes.empty()) {
      event_with_tokens_ = with_tokens;
    } else if (with_tokens != event_with_tokens_) {
      return fail(path(member_id::tokens_hash), event_with_tokens_
                                                  ? "missing while the first block carries one"
                                                  : "present while the first block carries none");
    }
    ev.block_hashes.push_back(block_hash_);
    if (with_tokens)
      ev.token_hashes.push_back(tokens_hash_);
    return true;
  }

  event_batch& out_;
  size_t max_events_;
  std::vector<frame> frames_;
  member_id next_ = member_id::none;
  uint32_t skip_ = 0;  // depth inside a value that is skipped (an unknown member)
  uint64_t block_hash_ = 0;
  uint64_t tokens_hash_ = 0;
  bool event_with_tokens_ = false;
  caf::error error_;
};
} // namespace

std::string encode_batch(const event_batch& b) {
  size_t blocks = 0;
  for (const auto& ev : b.events)
    blocks += ev.block_hashes.size();
  writer w{96 + b.events.size() * 64 + blocks * 56};
  w.raw(R"({"worker_id":)").number(b.worker);
  w.raw(R"(,"block_size":)").number(b.block_size);
  w.raw(R"(,"storage_tier":")").raw(to_string(b.tier));
  w.raw(R"(","events":[)");
  for (size_t i = 0; i < b.events.size(); ++i) {
    const auto& ev = b.events[i];
    w.raw(i == 0 ? R"({"event_id":)" : R"(,{"event_id":)").number(ev.event_id);
    w.raw(R"(,"data":)");
    switch (ev.type) {
      case kv_event::kind::stored:
        encode_stored(w, ev);
        break;
      case kv_event::kind::removed:
        encode_removed(w, ev);
        break;
      case kv_event::kind::cleared:
        w.raw(R"("cleared")");
        break;
    }
    w.raw("}");
  }
  w.raw("]}");
  return w.str();
}

caf::expected<event_batch> decode_batch(std::string_view bytes, size_t max_events) {
  event_batch result;
  batch_reader reader{result, max_events};
  if (!json::sax_parse(bytes.begin(), bytes.end(), &reader)) {
    if (auto err = reader.take_error())
      return err;
    return make_error(errc::invalid_request, "invalid KV event batch: not JSON");
  }
  return result;
}

} // namespace dynamo::kv_router
