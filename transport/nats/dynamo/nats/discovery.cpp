#include "dynamo/nats/discovery.hpp"

#include "dynamo/error.hpp"
#include "dynamo/nats/internal/connection.hpp"
#include "dynamo/nats/internal/record_codec.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace dynamo::nats {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The watcher thread never blocks in the client for longer than this, so that expiries and
// shutdown are noticed promptly.
constexpr auto max_poll = 20ms;

// Auto leases are re-put this many times per ttl.
constexpr int beats_per_ttl = 3;

class nats_discovery final : public discovery_plane {
public:
  explicit nats_discovery(discovery_options opts) : opts_(std::move(opts)) {
  }

  ~nats_discovery() override {
    {
      std::lock_guard guard{lease_mu_};
      for (const auto& [id, l] : leases_)
        kvStore_Delete(kv_, detail::to_kv_key(l.stored.record.key()).c_str());
      leases_.clear();
    }
    {
      std::lock_guard guard{mu_};
      stopping_ = true;
    }
    cv_.notify_all();
    {
      std::lock_guard guard{lease_mu_}; // the heartbeat thread checks stopping_ under it
    }
    lease_cv_.notify_all();
    for (auto* t : {&watcher_thread_, &dispatch_thread_, &heartbeat_thread_})
      if (t->joinable())
        t->join();
    if (watcher_ != nullptr)
      kvWatcher_Destroy(watcher_);
    if (kv_ != nullptr)
      kvStore_Destroy(kv_);
    if (js_ != nullptr)
      jsCtx_Destroy(js_);
    conn_.reset();
  }

  caf::error start() {
    log_ = opts_.connection.log ? opts_.connection.log : default_logger("nats-discovery");
    opts_.connection.log = log_;
    if (!is_valid_name(opts_.bucket))
      return make_error(errc::invalid_request, "invalid discovery bucket name", opts_.bucket);
    if (opts_.bucket_ttl < min_lease_ttl)
      return make_error(errc::invalid_request, "bucket ttl below 100 ms");
    token_ = random_instance_id().to_string();
    std::weak_ptr<char> alive = alive_;
    detail::connection::hooks h;
    h.on_reconnected = [this, alive] {
      if (alive.lock())
        request_reput();
    };
    auto conn = detail::connection::open(opts_.connection, true, std::move(h));
    if (!conn)
      return std::move(conn.error());
    conn_ = std::move(*conn);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = opts_.connection.timeout.count();
    if (auto s = natsConnection_JetStream(&js_, conn_->get(), &jo); s != NATS_OK)
      return detail::status_error(s, "JetStream context");
    if (auto err = bind_bucket())
      return err;
    if (auto s = kvStore_WatchAll(&watcher_, kv_, nullptr); s != NATS_OK)
      return detail::status_error(s, "watch bucket " + opts_.bucket);
    watcher_thread_ = std::thread{[this] { watcher_loop(); }};
    dispatch_thread_ = std::thread{[this] { dispatch_loop(); }};
    heartbeat_thread_ = std::thread{[this] { heartbeat_loop(); }};
    return {};
  }

  std::string name() const override {
    return "nats";
  }

  caf::expected<lease_id> register_instance(discovery_record rec, lease_options opts) override {
    if (auto err = validate_registration(rec, opts))
      return err;
    if (opts.ttl > opts_.bucket_ttl)
      return make_error(errc::invalid_request, "lease ttl above the bucket's max age",
                        std::to_string(opts_.bucket_ttl.count()) + " ms");
    std::lock_guard guard{lease_mu_};
    auto id = ++last_lease_;
    lease l;
    l.stored.record = std::move(rec);
    l.stored.ttl = opts.ttl;
    l.stored.lease_tag = token_ + "-" + std::to_string(id);
    l.auto_keep_alive = opts.auto_keep_alive;
    auto key = l.stored.record.key();
    if (auto err = put(l))
      return err;
    if (auto i = by_key_.find(key); i != by_key_.end())
      leases_.erase(i->second);
    by_key_[key] = id;
    leases_.emplace(id, std::move(l));
    lease_cv_.notify_all();
    return id;
  }

  caf::error keep_alive(lease_id id) override {
    std::lock_guard guard{lease_mu_};
    auto* l = find_live(id);
    if (l == nullptr)
      return lease_not_found(id);
    return put(*l);
  }

  caf::error update(lease_id id, std::map<std::string, std::string> metadata) override {
    std::lock_guard guard{lease_mu_};
    auto* l = find_live(id);
    if (l == nullptr)
      return lease_not_found(id);
    auto rec = l->stored.record;
    rec.metadata = std::move(metadata);
    if (auto err = validate_record(rec))
      return err;
    auto previous = std::move(l->stored.record);
    l->stored.record = std::move(rec);
    if (auto err = put(*l)) {
      l->stored.record = std::move(previous);
      return err;
    }
    return {};
  }

  caf::error revoke(lease_id id) override {
    std::lock_guard guard{lease_mu_};
    auto* l = find_live(id);
    if (l == nullptr)
      return lease_not_found(id);
    auto key = l->stored.record.key();
    by_key_.erase(key);
    leases_.erase(id);
    if (auto s = kvStore_Delete(kv_, detail::to_kv_key(key).c_str()); s != NATS_OK)
      return detail::status_error(s, "delete " + key + " (watchers expire it after its ttl)");
    return {};
  }

  std::vector<discovery_record> list(std::string_view key_prefix) const override {
    std::lock_guard guard{mu_};
    std::vector<discovery_record> result;
    for (auto i = cache_.lower_bound(key_prefix); i != cache_.end(); ++i) {
      if (!i->first.starts_with(key_prefix))
        break;
      result.push_back(i->second.stored.record);
    }
    return result;
  }

  caf::expected<watch_id> watch(std::string key_prefix,
                                std::function<void(const discovery_event&)> cb) override {
    if (!cb)
      return make_error(errc::invalid_request, "watch without callback");
    std::lock_guard guard{mu_};
    auto id = ++last_watch_;
    watches_.emplace(id, watch_entry{key_prefix, std::move(cb), event_seq_});
    for (auto i = cache_.lower_bound(key_prefix); i != cache_.end(); ++i) {
      if (!i->first.starts_with(key_prefix))
        break;
      queue_.push_back(queued{0, id, {discovery_event::kind::put, i->second.stored.record}});
    }
    cv_.notify_all();
    return id;
  }

  void unwatch(watch_id id) override {
    std::unique_lock lk{mu_};
    watches_.erase(id);
    if (std::this_thread::get_id() == dispatch_thread_.get_id())
      return;
    cv_.wait(lk, [this, id] { return running_watch_ != id; });
  }

private:
  struct lease {
    detail::stored_record stored;
    bool auto_keep_alive = true;
    clock_type::time_point last_put;
  };

  struct cached {
    detail::stored_record stored;
    clock_type::time_point deadline;
  };

  struct watch_entry {
    std::string prefix;
    std::function<void(const discovery_event&)> cb;
    // Broadcast events numbered up to this were already in the snapshot.
    uint64_t after_seq;
  };

  struct queued {
    // 0 for a snapshot entry (sent to `target` only), otherwise the broadcast event number.
    uint64_t seq;
    watch_id target;
    discovery_event ev;
  };

  caf::error bind_bucket() {
    auto s = js_KeyValue(&kv_, js_, opts_.bucket.c_str());
    if (s == NATS_OK)
      return {};
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = opts_.bucket.c_str();
    kc.History = 1;
    kc.TTL = static_cast<int64_t>(opts_.bucket_ttl.count()) * 1000000;
    kc.StorageType = opts_.memory_storage ? js_MemoryStorage : js_FileStorage;
    s = js_CreateKeyValue(&kv_, js_, &kc);
    if (s == NATS_OK)
      return {};
    // Another client may have created it meanwhile (with its own settings).
    if (js_KeyValue(&kv_, js_, opts_.bucket.c_str()) == NATS_OK)
      return {};
    return detail::status_error(s, "create KV bucket " + opts_.bucket);
  }

  static caf::error lease_not_found(lease_id id) {
    return make_error(errc::not_found, "lease not found",
                      "lease " + std::to_string(id) + " expired, was revoked or never existed");
  }

  // Requires lease_mu_. Drops a manual lease whose ttl passed; returns the live lease or null.
  lease* find_live(lease_id id) {
    auto i = leases_.find(id);
    if (i == leases_.end())
      return nullptr;
    if (!i->second.auto_keep_alive
        && clock_type::now() > i->second.last_put + i->second.stored.ttl) {
      expire_lease(i);
      return nullptr;
    }
    return &i->second;
  }

  // Requires lease_mu_.
  void expire_lease(std::map<lease_id, lease>::iterator i) {
    auto key = i->second.stored.record.key();
    log_->debug("nats discovery: lease {} of {} expired", i->first, key);
    by_key_.erase(key);
    leases_.erase(i);
    kvStore_Delete(kv_, detail::to_kv_key(key).c_str());
  }

  // Requires lease_mu_, which also orders puts and deletes of one key.
  // The lease counts from before the send, so the owner never outlives a watcher's view.
  caf::error put(lease& l) {
    auto sent = clock_type::now();
    ++l.stored.beat;
    auto value = detail::encode_record(l.stored);
    auto key = detail::to_kv_key(l.stored.record.key());
    auto s = kvStore_Put(nullptr, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
    if (s != NATS_OK)
      return detail::status_error(s, "put " + key);
    l.last_put = sent;
    return {};
  }

  void request_reput() {
    std::lock_guard guard{lease_mu_};
    reput_all_ = true;
    lease_cv_.notify_all();
  }

  void heartbeat_loop() {
    std::unique_lock lk{lease_mu_};
    for (;;) {
      {
        std::lock_guard guard{mu_};
        if (stopping_)
          return;
      }
      auto now = clock_type::now();
      auto next = now + 100ms; // also the period at which stopping_ is checked
      bool all = std::exchange(reput_all_, false);
      for (auto i = leases_.begin(); i != leases_.end();) {
        auto& l = i->second;
        if (!l.auto_keep_alive && now > l.last_put + l.stored.ttl) {
          expire_lease(i++);
          continue;
        }
        auto due = l.auto_keep_alive ? l.last_put + l.stored.ttl / beats_per_ttl
                                     : l.last_put + l.stored.ttl + 1ms;
        if (l.auto_keep_alive && (all || due <= now)) {
          if (auto err = put(l))
            log_->warn("nats discovery: heartbeat failed: {}", describe(err));
          due = clock_type::now() + l.stored.ttl / beats_per_ttl;
        } else if (all) {
          static_cast<void>(put(l));
        }
        next = std::min(next, due);
        ++i;
      }
      lease_cv_.wait_until(lk, next);
    }
  }

  // Requires mu_.
  void broadcast(discovery_event ev) {
    queue_.push_back(queued{++event_seq_, 0, std::move(ev)});
    cv_.notify_all();
  }

  // Requires mu_.
  void on_entry(kvEntry* e, bool initial) {
    auto key = detail::from_kv_key(kvEntry_Key(e));
    auto op = kvEntry_Operation(e);
    if (op == kvOp_Delete || op == kvOp_Purge) {
      if (auto i = cache_.find(key); i != cache_.end()) {
        broadcast({discovery_event::kind::removed, std::move(i->second.stored.record)});
        cache_.erase(i);
      }
      return;
    }
    if (op != kvOp_Put)
      return;
    std::string_view bytes{static_cast<const char*>(kvEntry_Value(e)),
                           static_cast<size_t>(kvEntry_ValueLen(e))};
    auto decoded = detail::decode_record(bytes);
    if (!decoded || decoded->record.key() != key) {
      log_->warn("nats discovery: ignoring malformed record under '{}': {}", key,
                 decoded ? "key does not match the record" : describe(decoded.error()));
      return;
    }
    auto now = clock_type::now();
    auto deadline = now + decoded->ttl;
    if (initial) {
      // A snapshot entry may be old: count its age from the server's put time.
      auto created_ns = kvEntry_Created(e);
      auto wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      auto age = std::chrono::nanoseconds{std::max<int64_t>(0, wall_ns - created_ns)};
      if (age >= decoded->ttl)
        return;
      deadline -= std::chrono::duration_cast<clock_type::duration>(age);
    }
    auto i = cache_.find(key);
    if (i != cache_.end() && i->second.stored.record == decoded->record
        && i->second.stored.lease_tag == decoded->lease_tag) {
      i->second.deadline = deadline; // a heartbeat
      i->second.stored.ttl = decoded->ttl;
      return;
    }
    auto rec = decoded->record;
    cache_[key] = cached{std::move(*decoded), deadline};
    broadcast({discovery_event::kind::put, std::move(rec)});
  }

  // Requires mu_. Returns the next deadline.
  clock_type::time_point expire_cache(clock_type::time_point now) {
    auto next = now + max_poll;
    for (auto i = cache_.begin(); i != cache_.end();) {
      if (i->second.deadline <= now) {
        log_->debug("nats discovery: {} missed its heartbeats, removing", i->first);
        broadcast({discovery_event::kind::removed, std::move(i->second.stored.record)});
        i = cache_.erase(i);
      } else {
        next = std::min(next, i->second.deadline);
        ++i;
      }
    }
    return next;
  }

  void watcher_loop() {
    bool initial = true;
    auto next = clock_type::now() + max_poll;
    for (;;) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock_type::now());
      kvEntry* e = nullptr;
      auto s = kvWatcher_Next(&e, watcher_, std::clamp<int64_t>(wait.count() + 1, 1,
                                                                   max_poll.count()));
      std::lock_guard guard{mu_};
      if (stopping_) {
        if (e != nullptr)
          kvEntry_Destroy(e);
        return;
      }
      if (s == NATS_OK && e == nullptr) {
        initial = false;
      } else if (s == NATS_OK) {
        on_entry(e, initial);
        kvEntry_Destroy(e);
      } else if (s != NATS_TIMEOUT) {
        log_->debug("nats discovery: watch: {}", natsStatus_GetText(s));
      }
      next = expire_cache(clock_type::now());
    }
  }

  void dispatch_loop() {
    std::unique_lock lk{mu_};
    for (;;) {
      cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_)
        return;
      auto item = std::move(queue_.front());
      queue_.pop_front();
      std::vector<watch_id> targets;
      if (item.seq == 0) {
        targets.push_back(item.target);
      } else {
        auto key = item.ev.record.key();
        for (const auto& [id, w] : watches_)
          if (w.after_seq < item.seq && key.starts_with(w.prefix))
            targets.push_back(id);
      }
      for (auto id : targets) {
        auto i = watches_.find(id);
        if (i == watches_.end())
          continue;
        auto cb = i->second.cb;
        running_watch_ = id;
        lk.unlock();
        try {
          cb(item.ev);
        } catch (const std::exception& ex) {
          log_->error("nats discovery: watch callback threw: {}", ex.what());
        } catch (...) {
          log_->error("nats discovery: watch callback threw");
        }
        lk.lock();
        running_watch_ = 0;
        cv_.notify_all();
      }
    }
  }

  discovery_options opts_;
  logger_ptr log_;
  std::string token_;
  // Expires (for the reconnect hook) when this object is destroyed.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  std::unique_ptr<detail::connection> conn_;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  kvWatcher* watcher_ = nullptr;

  // Owner side: leases granted by this plane.
  mutable std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  std::map<lease_id, lease> leases_;
  std::map<std::string, lease_id> by_key_;
  lease_id last_lease_ = 0;
  bool reput_all_ = false;

  // Observer side: the view of the bucket, watches and their event queue.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, cached, std::less<>> cache_;
  std::map<watch_id, watch_entry> watches_;
  std::deque<queued> queue_;
  uint64_t event_seq_ = 0;
  watch_id last_watch_ = 0;
  watch_id running_watch_ = 0;
  bool stopping_ = false;

  std::thread watcher_thread_;
  std::thread dispatch_thread_;
  std::thread heartbeat_thread_;
};

} // namespace

caf::expected<std::unique_ptr<discovery_plane>> make_discovery(discovery_options opts) {
  auto result = std::make_unique<nats_discovery>(std::move(opts));
  if (auto err = result->start())
    return err;
  return std::unique_ptr<discovery_plane>{std::move(result)};
}

} // namespace dynamo::nats
