// The event plane: fire-and-forget publish/subscribe on dotted subjects (KV-cache events, load
// reports). Delivery is at most once; every publisher numbers its messages so that subscribers
// can detect what they missed. Backends: in-process, NATS core.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace dynamo {

/// One published message.
struct event_message {
  std::string subject;
  /// The id of the publisher that sent it.
  std::string publisher;
  /// Per-publisher sequence number: 1, 2, 3, ... in publish order.
  uint64_t sequence;
  std::string payload;
};

/// Per-subscription limits.
struct subscription_options {
  /// Messages queued for the callback before new ones are dropped. At least 1.
  size_t max_pending = 65536;
};

/// Counters of one subscription.
struct subscription_stats {
  /// Messages handed to the callback (counted once the callback returned).
  uint64_t delivered = 0;
  /// Messages dropped because the subscription's queue was full.
  uint64_t dropped = 0;
  /// Messages queued right now (never more than max_pending).
  uint64_t pending = 0;
};

/// Identifies a subscription made by subscribe().
using subscription_id = uint64_t;

/// A named source of messages. Thread-safe; publishes from several threads are numbered in the
/// order they take effect. May outlive its plane (publish then fails with unavailable).
class event_publisher {
public:
  virtual ~event_publisher();

  /// The publisher id carried by every message. Any thread.
  virtual const std::string& id() const = 0;

  /// Publishes; sequence numbers start at 1 and increase by one per publish of this publisher.
  /// Returns the message's sequence number. Errors: invalid_request for an invalid subject
  /// (tokens separated by '.', no wildcards); unavailable if the plane is gone or unreachable.
  virtual caf::expected<uint64_t> publish(std::string subject, std::string payload) = 0;
};

/// Event backend. Thread-safe: any thread may call any member. Callbacks run on a backend
/// thread, never while a backend lock is held; the callbacks of one subscription never run
/// concurrently and see the messages of one publisher in publish order. A subscription is
/// active when subscribe() returns. Must not be destroyed from inside one of its callbacks.
class event_plane {
public:
  virtual ~event_plane();

  /// Backend name for logs ("inproc", "nats"). Any thread.
  virtual std::string name() const = 0;

  /// Makes a publisher. Ids should be unique per plane: subscribers track sequences per id. An
  /// empty id is replaced by a generated one. Any thread.
  virtual std::unique_ptr<event_publisher> make_publisher(std::string publisher_id) = 0;

  /// NATS-style patterns: '*' matches one token, '>' (last) matches one or more tokens.
  /// Errors: invalid_request (invalid pattern, empty callback, max_pending 0).
  virtual caf::expected<subscription_id>
  subscribe(std::string pattern, std::function<void(const event_message&)> cb,
            subscription_options opts = {})
    = 0;

  /// Ends a subscription (no-op if unknown). When it returns no callback of the subscription
  /// runs any more, unless it was called from inside that subscription's callback (then none
  /// runs after that one). Called from another subscription's callback it waits for this
  /// subscription's running callback, which therefore must not wait for the caller.
  virtual void unsubscribe(subscription_id id) = 0;

  /// Counters of a live subscription; all zero for an unknown one. Any thread.
  virtual subscription_stats stats(subscription_id id) const = 0;
};

/// True when `subject` is a non-empty list of non-empty '.'-separated tokens without
/// wildcards, whitespace or control characters.
bool is_valid_subject(std::string_view subject) noexcept;

/// True when `pattern` is a valid subject in which whole tokens may be '*' and the last token
/// may be '>'.
bool is_valid_pattern(std::string_view pattern) noexcept;

/// True when `subject` matches `pattern` ('*' one token, trailing '>' one or more tokens).
/// False when either is invalid. Shared by backends.
bool subject_matches(std::string_view pattern, std::string_view subject);

/// Subscriber-side gap detection per publisher. Not thread-safe: one per subscription callback.
class sequence_tracker {
public:
  /// Sequence numbers [first_missing, last_missing] of `publisher` that were never observed.
  struct gap {
    std::string publisher;
    uint64_t first_missing;
    uint64_t last_missing;
  };

  /// Records a message; returns the gap it reveals, if any (the first message of a publisher
  /// with sequence > 1 reveals 1..sequence-1). Duplicates/old seqs return nullopt and are
  /// counted.
  std::optional<gap> observe(const event_message& m);

  /// Messages whose sequence was not above the publisher's highest one seen.
  uint64_t duplicates() const;

  /// Sum of the sizes of all gaps reported so far.
  uint64_t missing() const;

  /// The highest sequence seen from `publisher`; 0 if none.
  uint64_t last_sequence(std::string_view publisher) const;

  /// Forgets `publisher` (it restarted and numbers from 1 again).
  void forget(std::string_view publisher);

private:
  std::map<std::string, uint64_t, std::less<>> last_;
  uint64_t duplicates_ = 0;
  uint64_t missing_ = 0;
};

} // namespace dynamo
