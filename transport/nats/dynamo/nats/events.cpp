#include "dynamo/nats/events.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ids.hpp"
#include "dynamo/nats/internal/connection.hpp"

#include <nats/nats.h>

#include <atomic>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace dynamo::nats {

namespace {

// What the publishers share with the plane; `closed` turns publishes into `unavailable`.
struct core {
  std::unique_ptr<detail::connection> conn;
  std::atomic<bool> closed{false};
  int64_t timeout_ms = 2000;
};

caf::error plane_gone() {
  return make_error(errc::unavailable, "the event plane is closed");
}

class nats_publisher final : public event_publisher {
public:
  nats_publisher(std::string id, std::weak_ptr<core> c) : id_(std::move(id)), core_(std::move(c)) {
  }

  const std::string& id() const override {
    return id_;
  }

  caf::expected<uint64_t> publish(std::string subject, std::string payload) override {
    if (!is_valid_subject(subject))
      return make_error(errc::invalid_request, "invalid subject", subject);
    if (payload.size() > static_cast<size_t>(INT_MAX))
      return make_error(errc::invalid_request, "payload too large");
    auto c = core_.lock();
    if (!c || c->closed)
      return plane_gone();
    std::lock_guard guard{mu_};
    auto seq = last_ + 1;
    auto seq_text = std::to_string(seq);
    natsMsg* msg = nullptr;
    auto s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                            static_cast<int>(payload.size()));
    if (s == NATS_OK)
      s = natsMsgHeader_Set(msg, publisher_header, id_.c_str());
    if (s == NATS_OK)
      s = natsMsgHeader_Set(msg, sequence_header, seq_text.c_str());
    if (s == NATS_OK)
      s = natsConnection_PublishMsg(c->conn->get(), msg);
    natsMsg_Destroy(msg);
    if (s != NATS_OK)
      return detail::status_error(s, "publish on " + subject);
    last_ = seq;
    return seq;
  }

private:
  std::string id_;
  std::weak_ptr<core> core_;
  std::mutex mu_;
  uint64_t last_ = 0;
};

// One subscription's callback state, shared with the nats.c delivery thread.
struct sub_state {
  std::function<void(const event_message&)> cb;
  logger_ptr log;
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  bool running = false;
  std::thread::id runner;
  uint64_t delivered = 0;
  uint64_t malformed = 0;
};

using sub_closure = std::shared_ptr<sub_state>;

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) noexcept {
  auto& st = **static_cast<sub_closure*>(closure);
  try {
    const char* pub = nullptr;
    const char* seq_text = nullptr;
    uint64_t seq = 0;
    bool ok = natsMsgHeader_Get(msg, publisher_header, &pub) == NATS_OK
              && natsMsgHeader_Get(msg, sequence_header, &seq_text) == NATS_OK && *pub != '\0';
    if (ok) {
      std::string_view text{seq_text};
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
      ok = ec == std::errc{} && end == text.data() + text.size() && seq > 0;
    }
    if (!ok) {
      std::lock_guard guard{st.mu};
      if (st.malformed++ == 0)
        st.log->warn("nats events: dropping messages without valid {}/{} headers on '{}'",
                     publisher_header, sequence_header, natsMsg_GetSubject(msg));
      natsMsg_Destroy(msg);
      return;
    }
    event_message m{natsMsg_GetSubject(msg), pub, seq,
                    std::string{natsMsg_GetData(msg),
                                static_cast<size_t>(natsMsg_GetDataLength(msg))}};
    natsMsg_Destroy(msg);
    msg = nullptr;
    {
      std::lock_guard guard{st.mu};
      if (st.closed)
        return;
      st.running = true;
      st.runner = std::this_thread::get_id();
    }
    try {
      st.cb(m);
    } catch (const std::exception& ex) {
      st.log->error("nats events: subscription callback threw: {}", ex.what());
    } catch (...) {
      st.log->error("nats events: subscription callback threw");
    }
    {
      std::lock_guard guard{st.mu};
      st.running = false;
      ++st.delivered;
    }
    st.cv.notify_all();
  } catch (...) {
    if (msg != nullptr)
      natsMsg_Destroy(msg);
  }
}

void on_complete(void* closure) noexcept {
  delete static_cast<sub_closure*>(closure);
}

class nats_events final : public event_plane {
public:
  explicit nats_events(std::shared_ptr<core> c, logger_ptr log)
    : core_(std::move(c)), log_(std::move(log)) {
  }

  ~nats_events() override {
    core_->closed = true;
    std::map<subscription_id, entry> subs;
    {
      std::lock_guard guard{mu_};
      subs.swap(subs_);
    }
    for (auto& [id, e] : subs)
      close(e);
  }

  std::string name() const override {
    return "nats";
  }

  std::unique_ptr<event_publisher> make_publisher(std::string publisher_id) override {
    if (publisher_id.empty())
      publisher_id = "pub-" + random_instance_id().to_string();
    return std::make_unique<nats_publisher>(std::move(publisher_id), core_);
  }

  caf::expected<subscription_id> subscribe(std::string pattern,
                                           std::function<void(const event_message&)> cb,
                                           subscription_options opts) override {
    if (!is_valid_pattern(pattern))
      return make_error(errc::invalid_request, "invalid subject pattern", pattern);
    if (!cb)
      return make_error(errc::invalid_request, "subscription without callback");
    if (opts.max_pending == 0 || opts.max_pending > static_cast<size_t>(INT_MAX))
      return make_error(errc::invalid_request, "max_pending must be in [1, INT_MAX]");
    auto state = std::make_shared<sub_state>();
    state->cb = std::move(cb);
    state->log = log_;
    auto closure = std::make_unique<sub_closure>(state);
    natsSubscription* sub = nullptr;
    auto* nc = core_->conn->get();
    auto s = natsConnection_Subscribe(&sub, nc, pattern.c_str(), &on_message, closure.get());
    if (s != NATS_OK)
      return detail::status_error(s, "subscribe to " + pattern);
    auto* raw_closure = closure.release(); // freed by on_complete once nats.c is done with it
    s = natsSubscription_SetOnCompleteCB(sub, &on_complete, raw_closure);
    if (s == NATS_OK)
      s = natsSubscription_SetPendingLimits(sub, static_cast<int>(opts.max_pending), -1);
    if (s == NATS_OK)
      s = natsConnection_FlushTimeout(nc, core_->timeout_ms);
    entry e{sub, state};
    if (s != NATS_OK) {
      close(e);
      return detail::status_error(s, "subscribe to " + pattern);
    }
    std::lock_guard guard{mu_};
    auto id = ++last_id_;
    subs_.emplace(id, e);
    return id;
  }

  void unsubscribe(subscription_id id) override {
    entry e;
    {
      std::lock_guard guard{mu_};
      auto i = subs_.find(id);
      if (i == subs_.end())
        return;
      e = i->second;
      subs_.erase(i);
    }
    close(e);
  }

  subscription_stats stats(subscription_id id) const override {
    std::lock_guard guard{mu_};
    auto i = subs_.find(id);
    if (i == subs_.end())
      return {};
    subscription_stats result;
    int64_t dropped = 0;
    int pending = 0;
    if (natsSubscription_GetDropped(i->second.sub, &dropped) == NATS_OK && dropped > 0)
      result.dropped = static_cast<uint64_t>(dropped);
    if (natsSubscription_GetPending(i->second.sub, &pending, nullptr) == NATS_OK && pending > 0)
      result.pending = static_cast<uint64_t>(pending);
    std::lock_guard state_guard{i->second.state->mu};
    result.delivered = i->second.state->delivered;
    return result;
  }

private:
  struct entry {
    natsSubscription* sub = nullptr;
    std::shared_ptr<sub_state> state;
  };

  // Ends delivery, waits for a running callback (unless it is the caller), frees the handle.
  void close(entry& e) {
    natsSubscription_Unsubscribe(e.sub);
    {
      std::unique_lock lk{e.state->mu};
      e.state->closed = true;
      if (e.state->runner != std::this_thread::get_id())
        e.state->cv.wait(lk, [&e] { return !e.state->running; });
    }
    natsSubscription_Destroy(e.sub);
    e.sub = nullptr;
  }

  std::shared_ptr<core> core_;
  logger_ptr log_;
  mutable std::mutex mu_;
  std::map<subscription_id, entry> subs_;
  subscription_id last_id_ = 0;
};

} // namespace

caf::expected<std::unique_ptr<event_plane>> make_events(event_options opts) {
  auto log = opts.connection.log ? opts.connection.log : default_logger("nats-events");
  opts.connection.log = log;
  auto conn = detail::connection::open(opts.connection, false);
  if (!conn)
    return std::move(conn.error());
  auto c = std::make_shared<core>();
  c->conn = std::move(*conn);
  c->timeout_ms = opts.connection.timeout.count();
  return std::unique_ptr<event_plane>{std::make_unique<nats_events>(std::move(c), log)};
}

} // namespace dynamo::nats
