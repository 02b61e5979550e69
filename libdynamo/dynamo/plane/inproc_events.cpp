#include "dynamo/plane/inproc_events.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ids.hpp"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <vector>

namespace dynamo {

namespace {

using clock_type = std::chrono::steady_clock;
using event_callback = std::function<void(const event_message&)>;
using message_ptr = std::shared_ptr<const event_message>;

constexpr auto drop_warning_interval = std::chrono::seconds{1};

/// One subscription: its queue, counters and delivery thread. `mu` guards everything below it.
struct subscription {
  subscription_id id = 0;
  std::string pattern;
  event_callback cb;
  size_t max_pending = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<message_ptr> queue;
  bool stopping = false;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t dropped_since_warning = 0;
  clock_type::time_point last_warning{};
  std::thread thread;
};

using subscription_ptr = std::shared_ptr<subscription>;

// Delivery loop of one subscription; runs on the subscription's own thread.
void deliver_loop(const subscription_ptr& sub, const logger_ptr& log) {
  std::unique_lock lk{sub->mu};
  for (;;) {
    sub->cv.wait(lk, [&sub] { return sub->stopping || !sub->queue.empty(); });
    if (sub->stopping)
      return;
    auto msg = std::move(sub->queue.front());
    sub->queue.pop_front();
    lk.unlock();
    try {
      sub->cb(*msg);
    } catch (const std::exception& ex) {
      log->error("subscription {} ({}): callback threw: {}", sub->id, sub->pattern, ex.what());
    } catch (...) {
      log->error("subscription {} ({}): callback threw a non-standard exception", sub->id,
                 sub->pattern);
    }
    msg.reset();
    lk.lock();
    ++sub->delivered;
  }
}

/// The shared state of a plane and its publishers. Lock order: publisher -> mu_ -> sub->mu.
class event_bus {
public:
  explicit event_bus(logger_ptr log) : log_(std::move(log)) {
  }

  const logger_ptr& log() const {
    return log_;
  }

  // Queues `msg` for every matching subscription. Called with the publisher's lock held.
  caf::error route(const message_ptr& msg) {
    std::shared_lock lk{mu_};
    if (closed_)
      return make_error(errc::unavailable, "the event plane is shut down");
    for (const auto& [id, sub] : subs_)
      if (subject_matches(sub->pattern, msg->subject))
        enqueue(*sub, msg);
    return {};
  }

  caf::expected<subscription_id> subscribe(std::string pattern, event_callback cb,
                                           subscription_options opts) {
    if (!is_valid_pattern(pattern))
      return make_error(errc::invalid_request,
                        fmt::format("invalid subject pattern '{}'", pattern));
    if (!cb)
      return make_error(errc::invalid_request, "subscribe needs a callback");
    if (opts.max_pending == 0)
      return make_error(errc::invalid_request, "max_pending must be at least 1");
    auto sub = std::make_shared<subscription>();
    sub->pattern = std::move(pattern);
    sub->cb = std::move(cb);
    sub->max_pending = opts.max_pending;
    std::unique_lock lk{mu_};
    if (closed_)
      return make_error(errc::unavailable, "the event plane is shut down");
    sub->id = next_id_++;
    sub->thread = std::thread{[sub, log = log_] { deliver_loop(sub, log); }};
    subs_.emplace(sub->id, sub);
    log_->debug("subscription {} on '{}' (max_pending {})", sub->id, sub->pattern,
                sub->max_pending);
    return sub->id;
  }

  void unsubscribe(subscription_id id) {
    subscription_ptr sub;
    {
      std::unique_lock lk{mu_};
      auto it = subs_.find(id);
      if (it == subs_.end())
        return;
      sub = std::move(it->second);
      subs_.erase(it);
    }
    stop(sub);
  }

  subscription_stats stats(subscription_id id) const {
    std::shared_lock lk{mu_};
    auto it = subs_.find(id);
    if (it == subs_.end())
      return {};
    auto& sub = *it->second;
    std::lock_guard guard{sub.mu};
    return {sub.delivered, sub.dropped, sub.queue.size()};
  }

  // Ends all subscriptions and refuses new work; joins every delivery thread.
  void close() {
    std::map<subscription_id, subscription_ptr> subs;
    std::vector<std::thread> graveyard;
    {
      std::unique_lock lk{mu_};
      closed_ = true;
      subs.swap(subs_);
      graveyard.swap(graveyard_);
    }
    for (auto& [id, sub] : subs) {
      if (sub->thread.get_id() == std::this_thread::get_id())
        on_internal_error("inproc event plane destroyed from inside a subscription callback");
      stop(sub);
    }
    for (auto& t : graveyard)
      t.join();
  }

private:
  void enqueue(subscription& sub, const message_ptr& msg) {
    uint64_t warn_count = 0;
    {
      std::lock_guard guard{sub.mu};
      if (sub.stopping)
        return;
      if (sub.queue.size() < sub.max_pending) {
        sub.queue.push_back(msg);
        sub.cv.notify_one();
        return;
      }
      ++sub.dropped;
      ++sub.dropped_since_warning;
      auto now = clock_type::now();
      if (now - sub.last_warning >= drop_warning_interval) {
        warn_count = sub.dropped_since_warning;
        sub.dropped_since_warning = 0;
        sub.last_warning = now;
      }
    }
    if (warn_count > 0)
      log_->warn("subscription {} ({}) is too slow: dropped {} message(s) since the last "
                 "warning (max_pending {})",
                 sub.id, sub.pattern, warn_count, sub.max_pending);
  }

  // Stops `sub`'s thread; joins it unless called from that very thread (inside its callback),
  // in which case the thread ends after the callback returns and close() joins it.
  void stop(const subscription_ptr& sub) {
    {
      std::lock_guard guard{sub->mu};
      sub->stopping = true;
      sub->queue.clear();
    }
    sub->cv.notify_all();
    if (sub->thread.get_id() == std::this_thread::get_id()) {
      std::unique_lock lk{mu_};
      graveyard_.push_back(std::move(sub->thread));
      return;
    }
    sub->thread.join();
  }

  logger_ptr log_;
  mutable std::shared_mutex mu_;
  std::map<subscription_id, subscription_ptr> subs_;
  std::vector<std::thread> graveyard_;
  subscription_id next_id_ = 1;
  bool closed_ = false;
};

class inproc_publisher final : public event_publisher {
public:
  inproc_publisher(std::shared_ptr<event_bus> bus, std::string id)
    : bus_(std::move(bus)), id_(std::move(id)) {
  }

  const std::string& id() const override {
    return id_;
  }

  caf::expected<uint64_t> publish(std::string subject, std::string payload) override {
    if (!is_valid_subject(subject))
      return make_error(errc::invalid_request, fmt::format("invalid subject '{}'", subject));
    std::lock_guard guard{mu_};
    auto seq = next_sequence_;
    auto msg = std::make_shared<const event_message>(
      event_message{std::move(subject), id_, seq, std::move(payload)});
    if (auto err = bus_->route(msg))
      return err;
    ++next_sequence_;
    return seq;
  }

private:
  std::shared_ptr<event_bus> bus_;
  std::string id_;
  std::mutex mu_;
  uint64_t next_sequence_ = 1;
};

class inproc_events final : public event_plane {
public:
  explicit inproc_events(logger_ptr log)
    : bus_(std::make_shared<event_bus>(log ? std::move(log) : default_logger("events"))) {
  }

  ~inproc_events() override {
    bus_->close();
  }

  std::string name() const override {
    return "inproc";
  }

  std::unique_ptr<event_publisher> make_publisher(std::string publisher_id) override {
    if (publisher_id.empty())
      publisher_id = "publisher-" + random_instance_id().to_string();
    return std::make_unique<inproc_publisher>(bus_, std::move(publisher_id));
  }

  caf::expected<subscription_id> subscribe(std::string pattern, event_callback cb,
                                           subscription_options opts) override {
    return bus_->subscribe(std::move(pattern), std::move(cb), opts);
  }

  void unsubscribe(subscription_id id) override {
    bus_->unsubscribe(id);
  }

  subscription_stats stats(subscription_id id) const override {
    return bus_->stats(id);
  }

private:
  std::shared_ptr<event_bus> bus_;
};

} // namespace

std::unique_ptr<event_plane> make_inproc_events(logger_ptr log) {
  return std::make_unique<inproc_events>(std::move(log));
}

} // namespace dynamo
