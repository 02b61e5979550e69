#include "dynamo/plane/inproc_discovery.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace dynamo {

namespace {

using clock_type = std::chrono::steady_clock;
using watch_callback = std::function<void(const discovery_event&)>;

struct lease_entry {
  discovery_record record;
  std::string key;
  lease_options opts;
  /// Meaningful only without auto_keep_alive.
  clock_type::time_point deadline;
};

struct watcher {
  std::string prefix;
  std::shared_ptr<watch_callback> cb;
};

struct pending_event {
  watch_id watch;
  discovery_event event;
};

class inproc_discovery final : public discovery_plane {
public:
  explicit inproc_discovery(logger_ptr log)
    : log_(log ? std::move(log) : default_logger("discovery")) {
    thread_ = std::thread{[this] { run(); }};
  }

  ~inproc_discovery() override {
    if (std::this_thread::get_id() == thread_.get_id())
      on_internal_error("inproc discovery destroyed from inside one of its watch callbacks");
    {
      std::lock_guard guard{mu_};
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  std::string name() const override {
    return "inproc";
  }

  caf::expected<lease_id> register_instance(discovery_record rec, lease_options opts) override {
    if (auto err = validate_registration(rec, opts))
      return err;
    auto key = rec.key();
    auto now = clock_type::now();
    std::lock_guard guard{mu_};
    expire_due_locked(now);
    if (auto old = by_key_.find(key); old != by_key_.end()) {
      log_->debug("lease {} for {} replaced by a new registration", old->second, key);
      drop_lease_locked(leases_.find(old->second));
    }
    auto id = next_lease_++;
    auto& entry = leases_[id];
    entry.record = std::move(rec);
    entry.key = key;
    entry.opts = opts;
    entry.deadline = now + opts.ttl;
    if (!opts.auto_keep_alive)
      expiries_.emplace(entry.deadline, id);
    by_key_.emplace(key, id);
    notify_locked(discovery_event::kind::put, entry.record, key);
    log_->debug("registered {} under lease {} (ttl {} ms, auto keep-alive {})", key, id,
                opts.ttl.count(), opts.auto_keep_alive);
    return id;
  }

  caf::error keep_alive(lease_id lease) override {
    auto now = clock_type::now();
    std::lock_guard guard{mu_};
    expire_due_locked(now);
    auto it = leases_.find(lease);
    if (it == leases_.end())
      return lease_not_found(lease);
    auto& entry = it->second;
    if (!entry.opts.auto_keep_alive) {
      expiries_.erase({entry.deadline, lease});
      entry.deadline = now + entry.opts.ttl;
      expiries_.emplace(entry.deadline, lease);
      wake_.notify_one();
    }
    return {};
  }

  caf::error update(lease_id lease, std::map<std::string, std::string> metadata) override {
    if (metadata.contains(std::string{}))
      return make_error(errc::invalid_request, "metadata keys must not be empty");
    std::lock_guard guard{mu_};
    expire_due_locked(clock_type::now());
    auto it = leases_.find(lease);
    if (it == leases_.end())
      return lease_not_found(lease);
    it->second.record.metadata = std::move(metadata);
    notify_locked(discovery_event::kind::put, it->second.record, it->second.key);
    return {};
  }

  caf::error revoke(lease_id lease) override {
    std::lock_guard guard{mu_};
    expire_due_locked(clock_type::now());
    auto it = leases_.find(lease);
    if (it == leases_.end())
      return lease_not_found(lease);
    log_->debug("lease {} for {} revoked", lease, it->second.key);
    notify_locked(discovery_event::kind::removed, it->second.record, it->second.key);
    drop_lease_locked(it);
    return {};
  }

  std::vector<discovery_record> list(std::string_view key_prefix) const override {
    std::vector<discovery_record> result;
    auto now = clock_type::now();
    std::lock_guard guard{mu_};
    for (auto it = by_key_.lower_bound(key_prefix);
         it != by_key_.end() && it->first.starts_with(key_prefix); ++it) {
      const auto& entry = leases_.at(it->second);
      if (entry.opts.auto_keep_alive || entry.deadline > now)
        result.push_back(entry.record);
    }
    return result;
  }

  caf::expected<watch_id> watch(std::string key_prefix, watch_callback cb) override {
    if (!cb)
      return make_error(errc::invalid_request, "watch needs a callback");
    std::lock_guard guard{mu_};
    expire_due_locked(clock_type::now());
    auto id = next_watch_++;
    for (auto it = by_key_.lower_bound(key_prefix);
         it != by_key_.end() && it->first.starts_with(key_prefix); ++it) {
      const auto& rec = leases_.at(it->second).record;
      queue_.push_back(pending_event{id, discovery_event{discovery_event::kind::put, rec}});
    }
    auto shared_cb = std::make_shared<watch_callback>(std::move(cb));
    watchers_.emplace(id, watcher{std::move(key_prefix), std::move(shared_cb)});
    wake_.notify_one();
    return id;
  }

  void unwatch(watch_id id) override {
    std::shared_ptr<watch_callback> doomed;
    std::unique_lock lk{mu_};
    auto it = watchers_.find(id);
    if (it == watchers_.end())
      return;
    doomed = std::move(it->second.cb);
    watchers_.erase(it);
    std::erase_if(queue_, [id](const pending_event& x) { return x.watch == id; });
    if (std::this_thread::get_id() != thread_.get_id())
      idle_.wait(lk, [this, id] { return delivering_ != id; });
    lk.unlock();
    // `doomed` (the user's callback) is destroyed here, outside the lock.
  }

private:
  static caf::error lease_not_found(lease_id lease) {
    return make_error(errc::not_found, "the lease expired or was revoked",
                      fmt::format("lease {}", lease));
  }

  // Queues `type` for every watcher whose prefix matches `key`.
  void notify_locked(discovery_event::kind type, const discovery_record& rec,
                     const std::string& key) {
    bool any = false;
    for (const auto& [id, w] : watchers_) {
      if (key.starts_with(w.prefix)) {
        queue_.push_back(pending_event{id, discovery_event{type, rec}});
        any = true;
      }
    }
    if (any)
      wake_.notify_one();
  }

  void drop_lease_locked(std::map<lease_id, lease_entry>::iterator it) {
    auto& entry = it->second;
    if (!entry.opts.auto_keep_alive)
      expiries_.erase({entry.deadline, it->first});
    by_key_.erase(entry.key);
    leases_.erase(it);
  }

  void expire_due_locked(clock_type::time_point now) {
    while (!expiries_.empty() && expiries_.begin()->first <= now) {
      auto id = expiries_.begin()->second;
      auto it = leases_.find(id);
      if (it == leases_.end())
        on_internal_error("inproc discovery: expiry entry without lease");
      log_->info("lease {} for {} expired", id, it->second.key);
      notify_locked(discovery_event::kind::removed, it->second.record, it->second.key);
      drop_lease_locked(it);
    }
  }

  void deliver(const watch_callback& cb, const discovery_event& ev) {
    try {
      cb(ev);
    } catch (const std::exception& ex) {
      log_->error("watch callback threw: {}", ex.what());
    } catch (...) {
      log_->error("watch callback threw a non-standard exception");
    }
  }

  // The backend thread: expires leases and delivers queued events, one at a time.
  void run() {
    std::unique_lock lk{mu_};
    for (;;) {
      expire_due_locked(clock_type::now());
      if (stopping_)
        return;
      if (!queue_.empty()) {
        auto item = std::move(queue_.front());
        queue_.pop_front();
        auto it = watchers_.find(item.watch);
        if (it == watchers_.end())
          continue;
        auto cb = it->second.cb;
        delivering_ = item.watch;
        lk.unlock();
        deliver(*cb, item.event);
        cb.reset();
        lk.lock();
        delivering_ = 0;
        idle_.notify_all();
        continue;
      }
      if (expiries_.empty()) {
        wake_.wait(lk);
      } else {
        auto next = expiries_.begin()->first; // a copy: the entry may go while we wait
        wake_.wait_until(lk, next);
      }
    }
  }

  logger_ptr log_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<lease_id, lease_entry> leases_;
  std::map<std::string, lease_id, std::less<>> by_key_;
  std::set<std::pair<clock_type::time_point, lease_id>> expiries_;
  std::map<watch_id, watcher> watchers_;
  std::deque<pending_event> queue_;
  lease_id next_lease_ = 1;
  watch_id next_watch_ = 1;
  watch_id delivering_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace

std::unique_ptr<discovery_plane> make_inproc_discovery(logger_ptr log) {
  return std::make_unique<inproc_discovery>(std::move(log));
}

} // namespace dynamo
