#include "dynamo/workload/http_stream.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dynamo::workload {

namespace {

using clock_type = stream_clock;

/// epoll data of the wake-up eventfd; connections use keys from 1 up.
constexpr uint64_t wake_key = 0;

/// Bytes read per recv() call and at most per connection per readiness event.
constexpr size_t read_chunk = 64 * 1024;
constexpr size_t read_budget = 4 * read_chunk;

/// Longer request timeouts are cut to this (about 11.5 days) so deadlines cannot overflow.
constexpr std::chrono::milliseconds max_timeout{1'000'000'000};

std::string errno_text(int err) {
  return std::strerror(err);
}

struct exchange {
  uint64_t id = 0;
  std::string wire;  // the serialized request, kept for a retry
  size_t out_off = 0;
  stream_callbacks cb;
  clock_type::time_point deadline;
  response_parser parser;
  sse_decoder sse;
  stream_result result;
  std::string body_buf;
  std::vector<std::string> events;
  size_t connect_attempts = 0;
  bool head_seen = false;
  bool cancel_requested = false;

  explicit exchange(size_t max_event_bytes) : sse(max_event_bytes) {
  }
};

enum class phase : uint8_t { connecting, busy, idle };

struct connection {
  uint64_t key = 0;
  int fd = -1;
  phase state = phase::connecting;
  uint32_t mask = 0;
  size_t addr_index = 0;
  bool reused = false;  // the current exchange runs on a connection that served one before
  std::unique_ptr<exchange> ex;

  ~connection() {
    if (fd >= 0)
      ::close(fd);
  }
};

struct finished_exchange {
  std::unique_ptr<exchange> ex;
  clock_type::time_point at;
};

} // namespace

class stream_client::impl {
public:
  impl(config cfg, std::vector<tcp_address> addrs, int epfd, int wakefd)
    : cfg_(std::move(cfg)), addrs_(std::move(addrs)), epfd_(epfd), wakefd_(wakefd) {
  }

  ~impl() {
    conns_.clear();
    ::close(wakefd_);
    ::close(epfd_);
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  caf::expected<uint64_t> start(stream_request req, stream_callbacks cb) {
    if (in_flight() >= cfg_.max_connections)
      return make_error(errc::overloaded,
                        fmt::format("{} requests already in flight", cfg_.max_connections));
    req.headers.emplace_back("User-Agent", "dynamo-load");
    req.headers.emplace_back("Accept", "text/event-stream, application/json");
    auto wire = format_request(req.method, cfg_.url.authority(), cfg_.url.base_path + req.target,
                               req.headers, req.content_type, req.body);
    if (!wire)
      return std::move(wire.error());
    auto ex = std::make_unique<exchange>(cfg_.max_event_bytes);
    ex->id = next_id_++;
    ex->cb = std::move(cb);
    ex->deadline = clock_type::now() + std::clamp(req.timeout, std::chrono::milliseconds{0},
                                                  max_timeout);
    ex->wire = std::move(*wire);
    auto id = ex->id;
    deadlines_.emplace(ex->deadline, id);
    ++stats_.requests;
    assign(std::move(ex), false);
    return id;
  }

  void cancel(uint64_t id) {
    auto it = owner_.find(id);
    if (it == owner_.end())
      return;
    auto& conn = *conns_.at(it->second);
    if (!conn.ex->cancel_requested) {
      conn.ex->cancel_requested = true;
      cancels_.push_back(id);
    }
  }

  void run_once(std::chrono::milliseconds max_wait) {
    process_cancels();
    deliver_finished();
    auto now = clock_type::now();
    auto wait = max_wait;
    if (!deadlines_.empty()) {
      auto until = deadlines_.begin()->first - now;
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(until);
      wait = std::min(wait, std::max(ms, std::chrono::milliseconds{0}));
    }
    if (!finished_.empty() || !cancels_.empty())
      wait = std::chrono::milliseconds{0};
    std::array<epoll_event, 256> events;
    int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()),
                         static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 3600 * 1000)));
    if (n < 0 && errno != EINTR)
      log()->error("epoll_wait failed: {}", errno_text(errno));
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == wake_key) {
        uint64_t count = 0;
        [[maybe_unused]] auto rc = ::read(wakefd_, &count, sizeof(count));
        continue;
      }
      handle(events[i].data.u64, events[i].events);
    }
    expire(clock_type::now());
    process_cancels();
    deliver_finished();
  }

  void wake() noexcept {
    uint64_t one = 1;
    [[maybe_unused]] auto rc = ::write(wakefd_, &one, sizeof(one));
  }

  size_t in_flight() const noexcept {
    return owner_.size() + finished_.size() + delivering_;
  }

  size_t open_connections() const noexcept {
    return conns_.size();
  }

  stream_client_stats stats() const noexcept {
    return stats_;
  }

private:
  const logger_ptr& log() const {
    return cfg_.log;
  }

  connection* find(uint64_t key) {
    auto it = conns_.find(key);
    return it == conns_.end() ? nullptr : it->second.get();
  }

  void set_mask(connection& conn, uint32_t mask) {
    if (conn.mask == mask)
      return;
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = conn.key;
    if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, conn.fd, &ev) == 0)
      conn.mask = mask;
    else
      log()->error("epoll_ctl(MOD) failed: {}", errno_text(errno));
  }

  void close_conn(uint64_t key) {
    auto it = conns_.find(key);
    if (it == conns_.end())
      return;
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
    std::erase(idle_, key);
    conns_.erase(it);
  }

  /// True when an idle connection shows no sign of having been closed by the server.
  static bool still_open(const connection& conn) {
    char byte = 0;
    auto n = ::recv(conn.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  /// Puts `ex` on a connection: a live idle one unless `fresh_only`, else a new one.
  void assign(std::unique_ptr<exchange> ex, bool fresh_only) {
    while (!fresh_only && !idle_.empty()) {
      auto key = idle_.back();
      idle_.pop_back();
      auto* conn = find(key);
      if (conn == nullptr)
        continue;
      if (!still_open(*conn)) {
        close_conn(key);
        continue;
      }
      ++stats_.connections_reused;
      conn->reused = true;
      conn->state = phase::busy;
      attach(*conn, std::move(ex));
      write_some(key);
      return;
    }
    open(std::move(ex));
  }

  void attach(connection& conn, std::unique_ptr<exchange> ex) {
    ex->out_off = 0;
    owner_[ex->id] = conn.key;
    conn.ex = std::move(ex);
  }

  void open(std::unique_ptr<exchange> ex) {
    auto index = preferred_;
    ++ex->connect_attempts;
    ++stats_.connections_opened;
    bool connected = false;
    int fd = start_connect(addrs_[index], connected);
    if (fd < 0) {
      connect_failed(std::move(ex), index, -fd);
      return;
    }
    auto conn = std::make_unique<connection>();
    conn->key = next_key_++;
    conn->fd = fd;
    conn->addr_index = index;
    conn->state = connected ? phase::busy : phase::connecting;
    conn->mask = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    epoll_event ev{};
    ev.events = conn->mask;
    ev.data.u64 = conn->key;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      auto err = errno;
      finish(std::move(ex), make_error(errc::unavailable, "cannot watch a socket", errno_text(err)),
             clock_type::now());
      return;
    }
    auto key = conn->key;
    attach(*conn, std::move(ex));
    conns_.emplace(key, std::move(conn));
    if (connected)
      write_some(key);
  }

  void connect_failed(std::unique_ptr<exchange> ex, size_t index, int err) {
    if (addrs_.size() > 1 && index == preferred_)
      preferred_ = (preferred_ + 1) % addrs_.size();
    if (ex->connect_attempts < addrs_.size()) {
      open(std::move(ex));
      return;
    }
    finish(std::move(ex),
           make_error(errc::unavailable,
                      fmt::format("cannot connect to {}: {}", cfg_.url.authority(),
                                  errno_text(err))),
           clock_type::now());
  }

  /// Detaches the exchange of connection `key`; the connection is closed unless `keep`.
  std::unique_ptr<exchange> detach(uint64_t key, bool keep) {
    auto* conn = find(key);
    auto ex = std::move(conn->ex);
    owner_.erase(ex->id);
    if (keep) {
      conn->state = phase::idle;
      set_mask(*conn, EPOLLIN | EPOLLRDHUP);
      idle_.push_back(key);
    } else {
      close_conn(key);
    }
    return ex;
  }

  /// Queues on_done of `ex` for delivery at the end of this run_once().
  void finish(std::unique_ptr<exchange> ex, caf::error err, clock_type::time_point at) {
    deadlines_.erase({ex->deadline, ex->id});
    ex->result.error = std::move(err);
    finished_.push_back(finished_exchange{std::move(ex), at});
  }

  void fail(uint64_t key, caf::error err, clock_type::time_point at) {
    finish(detach(key, false), std::move(err), at);
  }

  /// The connection broke: sends again on a fresh connection when a kept-alive connection went
  /// stale before any response byte, otherwise fails the exchange.
  void broken(uint64_t key, caf::error err, clock_type::time_point at) {
    auto* conn = find(key);
    auto& ex = *conn->ex;
    if (conn->reused && ex.parser.bytes_seen() == 0 && !ex.result.retried) {
      auto moved = detach(key, false);
      moved->result.retried = true;
      moved->connect_attempts = 0;
      ++stats_.retries;
      assign(std::move(moved), true);
      return;
    }
    fail(key, std::move(err), at);
  }

  void write_some(uint64_t key) {
    auto* conn = find(key);
    auto& ex = *conn->ex;
    while (ex.out_off < ex.wire.size()) {
      auto n = ::send(conn->fd, ex.wire.data() + ex.out_off, ex.wire.size() - ex.out_off,
                      MSG_NOSIGNAL);
      if (n > 0) {
        ex.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_mask(*conn, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        return;
      }
      auto err = errno;
      broken(key,
             make_error(errc::disconnected, "the connection broke while sending the request",
                        errno_text(err)),
             clock_type::now());
      return;
    }
    set_mask(*conn, EPOLLIN | EPOLLRDHUP);
  }

  void handle(uint64_t key, uint32_t events) {
    auto* conn = find(key);
    if (conn == nullptr)
      return;
    if (conn->state == phase::idle) {
      close_conn(key);  // the server closed it or sent bytes nobody asked for
      return;
    }
    if (conn->state == phase::connecting) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
        return;
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
      if (err != 0) {
        auto index = conn->addr_index;
        auto ex = detach(key, false);
        connect_failed(std::move(ex), index, err);
        return;
      }
      conn->state = phase::busy;
    }
    if ((events & EPOLLOUT) != 0 && conn->ex->out_off < conn->ex->wire.size()) {
      write_some(key);
      conn = find(key);
      if (conn == nullptr || conn->ex == nullptr)
        return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
      read_some(key);
  }

  void read_some(uint64_t key) {
    std::array<char, read_chunk> buf;
    size_t total = 0;
    while (total < read_budget) {
      auto* conn = find(key);
      if (conn == nullptr || conn->ex == nullptr)
        return;
      auto n = ::recv(conn->fd, buf.data(), buf.size(), 0);
      auto now = clock_type::now();
      if (n > 0) {
        total += static_cast<size_t>(n);
        stats_.bytes_received += static_cast<uint64_t>(n);
        if (!on_bytes(key, std::string_view{buf.data(), static_cast<size_t>(n)}, now))
          return;
        continue;
      }
      if (n == 0) {
        on_eof(key, now);
        return;
      }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      auto err = errno;
      broken(key, make_error(errc::disconnected, "the connection was reset", errno_text(err)),
             now);
      return;
    }
  }

  /// Parses received bytes and runs the callbacks; false when the exchange ended.
  bool on_bytes(uint64_t key, std::string_view bytes, clock_type::time_point at) {
    auto* conn = find(key);
    auto& ex = *conn->ex;
    auto used = ex.parser.feed(bytes, ex.body_buf);
    if (!used) {
      fail(key, std::move(used.error()), at);
      return false;
    }
    bool new_head = false;
    if (ex.parser.has_head() && !ex.head_seen) {
      ex.head_seen = true;
      new_head = true;
      const auto& head = ex.parser.head();
      ex.result.status = head.status;
      ex.result.content_type = std::string{head.header("content-type")};
      ex.result.event_stream = is_event_stream(ex.result.content_type);
    }
    if (!ex.body_buf.empty()) {
      if (ex.result.event_stream) {
        if (auto err = ex.sse.feed(ex.body_buf, ex.events)) {
          fail(key, std::move(err), at);
          return false;
        }
      } else {
        auto room = cfg_.max_body_bytes - std::min(cfg_.max_body_bytes, ex.result.body.size());
        ex.result.body.append(ex.body_buf, 0, std::min(room, ex.body_buf.size()));
        ex.result.body_truncated = ex.result.body_truncated || ex.body_buf.size() > room;
      }
      ex.body_buf.clear();
    }
    // Callbacks may call start() and cancel(); cancel() only marks the exchange, so `ex`
    // stays valid here.
    if (new_head && ex.cb.on_head && !ex.cancel_requested)
      ex.cb.on_head(ex.parser.head(), at);
    auto events = std::move(ex.events);
    ex.events.clear();
    for (const auto& data : events) {
      if (ex.cancel_requested)
        break;
      ++ex.result.events;
      if (ex.cb.on_event)
        ex.cb.on_event(data, at);
    }
    if (ex.cancel_requested) {
      fail(key, make_error(errc::cancelled, "the request was cancelled"), at);
      return false;
    }
    if (!ex.parser.complete())
      return true;
    // Reuse only a connection whose request went out whole and that carried nothing extra.
    bool keep = ex.parser.keep_alive() && *used == bytes.size() && ex.out_off == ex.wire.size();
    finish(detach(key, keep), caf::none, at);
    return false;
  }

  void on_eof(uint64_t key, clock_type::time_point at) {
    auto* conn = find(key);
    if (auto err = conn->ex->parser.finish_eof()) {
      broken(key, std::move(err), at);
      return;
    }
    finish(detach(key, false), caf::none, at);
  }

  void expire(clock_type::time_point now) {
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto id = deadlines_.begin()->second;
      auto it = owner_.find(id);
      if (it == owner_.end()) {
        deadlines_.erase(deadlines_.begin());
        continue;
      }
      fail(it->second, make_error(errc::deadline_exceeded, "the request timed out"), now);
    }
  }

  void process_cancels() {
    auto ids = std::move(cancels_);
    cancels_.clear();
    auto now = clock_type::now();
    for (auto id : ids) {
      auto it = owner_.find(id);
      if (it != owner_.end())
        fail(it->second, make_error(errc::cancelled, "the request was cancelled"), now);
    }
  }

  void deliver_finished() {
    while (!finished_.empty()) {
      auto batch = std::move(finished_);
      finished_.clear();
      delivering_ = batch.size();
      for (auto& item : batch) {
        --delivering_;
        if (item.ex->cb.on_done)
          item.ex->cb.on_done(std::move(item.ex->result), item.at);
      }
    }
  }

  config cfg_;
  std::vector<tcp_address> addrs_;
  size_t preferred_ = 0;
  int epfd_;
  int wakefd_;
  std::unordered_map<uint64_t, std::unique_ptr<connection>> conns_;
  std::vector<uint64_t> idle_;                        // idle connection keys, newest last
  std::unordered_map<uint64_t, uint64_t> owner_;      // request id -> connection key
  std::set<std::pair<clock_type::time_point, uint64_t>> deadlines_;
  std::vector<finished_exchange> finished_;           // awaiting on_done
  std::vector<uint64_t> cancels_;
  size_t delivering_ = 0;
  uint64_t next_id_ = 1;
  uint64_t next_key_ = 1;
  stream_client_stats stats_;
};

caf::expected<std::unique_ptr<stream_client>> stream_client::make(config cfg) {
  if (cfg.url.host.empty())
    return make_error(errc::invalid_request, "stream_client: the URL has no host");
  if (cfg.max_connections == 0)
    return make_error(errc::invalid_request, "stream_client: max_connections must be >= 1");
  if (cfg.max_event_bytes == 0)
    return make_error(errc::invalid_request, "stream_client: max_event_bytes must be >= 1");
  if (!cfg.log)
    cfg.log = default_logger("http-stream");
  auto addrs = resolve(cfg.url);
  if (!addrs)
    return std::move(addrs.error());
  int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0)
    return make_error(errc::unavailable, "stream_client: epoll_create1 failed",
                      errno_text(errno));
  int wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd < 0) {
    auto err = errno;
    ::close(epfd);
    return make_error(errc::unavailable, "stream_client: eventfd failed", errno_text(err));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = wake_key;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) != 0) {
    auto err = errno;
    ::close(wakefd);
    ::close(epfd);
    return make_error(errc::unavailable, "stream_client: epoll_ctl failed", errno_text(err));
  }
  auto max = cfg.max_connections;
  auto p = std::make_unique<impl>(std::move(cfg), std::move(*addrs), epfd, wakefd);
  auto client = std::unique_ptr<stream_client>(new stream_client(std::move(p)));
  client->max_connections_ = max;
  return client;
}

stream_client::stream_client(std::unique_ptr<impl> p) : impl_(std::move(p)), max_connections_(0) {
}

stream_client::~stream_client() = default;

caf::expected<uint64_t> stream_client::start(stream_request req, stream_callbacks cb) {
  return impl_->start(std::move(req), std::move(cb));
}

void stream_client::cancel(uint64_t id) {
  impl_->cancel(id);
}

void stream_client::run_once(std::chrono::milliseconds max_wait) {
  impl_->run_once(max_wait);
}

void stream_client::wake() noexcept {
  impl_->wake();
}

size_t stream_client::in_flight() const noexcept {
  return impl_->in_flight();
}

size_t stream_client::open_connections() const noexcept {
  return impl_->open_connections();
}

stream_client_stats stream_client::stats() const noexcept {
  return impl_->stats();
}

} // namespace dynamo::workload
