#include "dynamo/ucx/internal/ucx_worker.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ucx/internal/ucx_info.hpp"
#include "dynamo/ucx/internal/ucx_memory.hpp"

#include <fmt/format.h>
#include <ucp/api/ucp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <poll.h>
#include <set>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace dynamo::ucx::internal {

namespace {

using clock_type = std::chrono::steady_clock;

/// How long the progress thread keeps polling after its last transfer before it sleeps.
constexpr auto idle_linger = std::chrono::microseconds{200};

std::string status_text(std::string_view call, ucs_status_t st) {
  return fmt::format("{}: {}", call, ucs_status_string(st));
}

} // namespace

class ucx_worker::impl : public std::enable_shared_from_this<impl> {
public:
  struct peer;

  /// One transfer in flight on the worker.
  struct op {
    impl* owner = nullptr;
    transfer_request req;
    peer* target = nullptr;
    size_t pending = 0;  ///< UCX requests not completed yet.
    bool posted = false; ///< All requests were issued.
    bool reported = false;
    /// Given up at its deadline: its requests never completed (endpoints without peer error
    /// handling cannot purge them), so the op only waits for UCX to let go of it.
    bool abandoned = false;
    caf::error err;
    clock_type::time_point deadline;
  };

  /// An endpoint to one remote worker and the rkeys unpacked on it.
  struct peer {
    impl* owner = nullptr;
    std::string address;
    ucp_ep_h ep = nullptr;
    std::map<std::string, ucp_rkey_h> rkeys;
    size_t ops = 0; ///< Transfers with requests on this endpoint.
    bool closing = false;
    void* close_req = nullptr;
    bool closed = false;
    bool lanes_logged = false;
  };

  impl(const ucx_options& opts, unpin_fn unpin)
    : log_(opts.log), name_(opts.agent), timeout_(opts.transfer_timeout),
      shutdown_timeout_(opts.shutdown_timeout), peer_errors_(opts.detect_peer_failure),
      unpin_(std::move(unpin)) {
    idle_wait_ = std::clamp(opts.keepalive_interval / 4, std::chrono::milliseconds{1},
                            std::chrono::milliseconds{100});
  }

  ~impl() {
    release();
  }

  caf::error init(const ucx_options& opts) {
    ucp_config_t* config = nullptr;
    if (auto st = ucp_config_read(nullptr, nullptr, &config); st != UCS_OK)
      return make_error(errc::unavailable, "UCX is not usable", status_text("ucp_config_read", st));
    caf::error err;
    if (!opts.transports.empty())
      if (auto st = ucp_config_modify(config, "TLS", opts.transports.c_str()); st != UCS_OK)
        err = make_error(errc::invalid_request,
                         fmt::format("UCX rejected the transports '{}'", opts.transports),
                         status_text("ucp_config_modify(TLS)", st));
    auto keepalive = fmt::format("{}ms", std::max<int64_t>(opts.keepalive_interval.count(), 1));
    if (auto st = ucp_config_modify(config, "KEEPALIVE_INTERVAL", keepalive.c_str());
        st != UCS_OK)
      log_->warn("UCX keeps its default keepalive interval: {}",
                 status_text("ucp_config_modify(KEEPALIVE_INTERVAL)", st));
    if (!err) {
      ucp_params_t params{};
      params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
      params.features = UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP;
      params.name = name_.c_str();
      if (auto st = ucp_init(&params, config, &context_); st != UCS_OK)
        err = make_error(errc::unavailable, "UCX could not be initialised",
                         status_text("ucp_init", st));
    }
    ucp_config_release(config);
    if (err)
      return err;
    ucp_worker_params_t wp{};
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;
    if (auto st = ucp_worker_create(context_, &wp, &worker_); st != UCS_OK)
      return make_error(errc::unavailable, "the UCX worker could not be created",
                        status_text("ucp_worker_create", st));
    ucp_address_t* addr = nullptr;
    size_t addr_len = 0;
    if (auto st = ucp_worker_get_address(worker_, &addr, &addr_len); st != UCS_OK)
      return make_error(errc::unavailable, "the UCX worker has no address",
                        status_text("ucp_worker_get_address", st));
    address_.assign(reinterpret_cast<const char*>(addr), addr_len);
    ucp_worker_release_address(worker_, addr);
    if (auto st = ucp_worker_get_efd(worker_, &efd_); st != UCS_OK) {
      log_->warn("UCX offers no wakeup fd ({}); idle polling every {} ms",
                 ucs_status_string(st), idle_wait_.count());
      efd_ = -1;
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0)
      return make_error(errc::unavailable, "no eventfd for the UCX progress thread",
                        std::strerror(errno));
    log_->info("ucx agent '{}' up: transports available: {}", name_, transports_of(context_));
    return {};
  }

  void run_thread() {
    thread_ = std::thread{[self = shared_from_this()] { self->loop(); }};
  }

  const std::string& address() const noexcept {
    return address_;
  }

  bool on_worker_thread() const noexcept {
    return std::this_thread::get_id() == thread_id_.load();
  }

  /// Runs `f` on the progress thread and waits for its result.
  template <class F>
  auto call(F f) -> decltype(f()) {
    if (on_worker_thread())
      return f();
    std::packaged_task<decltype(f())()> task{std::move(f)};
    auto result = task.get_future();
    // The task lives on this frame, which waits for it below.
    post_call([&task] { task(); });
    return result.get();
  }

  caf::expected<mapped_region> map(uint64_t id, std::byte* base, size_t size, bool allocate) {
    return call([this, id, base, size, allocate]() -> caf::expected<mapped_region> {
      auto mapped = map_memory(context_, base, size, allocate);
      if (!mapped)
        return std::move(mapped.error());
      memhs_[id] = mapped->first;
      return std::move(mapped->second);
    });
  }

  caf::error unmap(uint64_t id) {
    return call([this, id]() -> caf::error {
      auto it = memhs_.find(id);
      if (it == memhs_.end())
        return make_error(errc::not_found, "unknown memory region", fmt::format("region {}", id));
      auto st = ucp_mem_unmap(context_, it->second);
      memhs_.erase(it);
      if (st != UCS_OK)
        log_->warn("ucp_mem_unmap of region {} failed: {}", id, ucs_status_string(st));
      return {};
    });
  }

  void submit(transfer_request req) {
    in_flight_.fetch_add(1);
    {
      std::lock_guard guard{mu_};
      submitted_.push_back(std::move(req));
    }
    wake();
  }

  size_t in_flight() const noexcept {
    return in_flight_.load();
  }

  void stop() {
    stop_requested_.store(true);
    wake();
    if (!thread_.joinable())
      return;
    if (on_worker_thread())
      thread_.detach(); // called from on_done: the loop shuts down once the callback returns
    else
      thread_.join();
  }

  void pump() {
    run_queued();
    while (ucp_worker_progress(worker_) != 0) {
    }
    handle_failed_peers();
    check_deadlines();
    finish_completed();
    reap_closing_peers();
  }

private:
  void post_call(std::function<void()> f) {
    {
      std::lock_guard guard{mu_};
      calls_.push_back(std::move(f));
    }
    wake();
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  }

  bool queues_empty() {
    std::lock_guard guard{mu_};
    return calls_.empty() && submitted_.empty();
  }

  void loop() {
    thread_id_.store(std::this_thread::get_id());
    size_t idle_spins = 0;
    auto last_busy = clock_type::now();
    while (!stop_requested_.load()) {
      pump();
      if (live_ops_ != 0) {
        // Transfers in flight: busy-poll, yielding now and then to share the core.
        if (++idle_spins % 64 == 0)
          std::this_thread::yield();
        last_busy = clock_type::now();
        continue;
      }
      // Linger a moment before sleeping: a caller that submits its next transfer right after
      // a completion (a pipeline of layers, a bench at one in flight) then skips a wake-up.
      if (clock_type::now() - last_busy < idle_linger) {
        std::this_thread::yield();
        continue;
      }
      idle_spins = 0;
      sleep_until_woken();
      last_busy = clock_type::now();
    }
    shutdown();
  }

  void sleep_until_woken() {
    if (!queues_empty())
      return;
    if (efd_ >= 0 && ucp_worker_arm(worker_) == UCS_ERR_BUSY)
      return;
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {efd_, POLLIN, 0}};
    ::poll(fds, efd_ >= 0 ? 2 : 1, static_cast<int>(idle_wait_.count()));
    uint64_t drained = 0;
    [[maybe_unused]] auto n = ::read(wake_fd_, &drained, sizeof(drained));
  }

  void run_queued() {
    std::deque<std::function<void()>> calls;
    std::deque<transfer_request> reqs;
    {
      std::lock_guard guard{mu_};
      calls.swap(calls_);
      reqs.swap(submitted_);
    }
    for (auto& f : calls)
      f();
    for (auto& r : reqs)
      start(std::move(r));
  }

  static void on_request_done(void* request, ucs_status_t st, void* user_data) {
    auto* o = static_cast<op*>(user_data);
    if (st != UCS_OK && !o->err)
      o->err = make_error(errc::disconnected, "the transfer to the peer failed",
                          fmt::format("agent {}: {}", o->req.remote.agent,
                                      status_text("UCX request", st)));
    ucp_request_free(request);
    if (--o->pending == 0 && o->posted)
      o->owner->done_.push_back(o->req.id);
  }

  static void on_ep_error(void* arg, ucp_ep_h, ucs_status_t st) {
    auto* p = static_cast<peer*>(arg);
    p->owner->log_->warn("ucx agent '{}': endpoint to a peer failed: {}", p->owner->name_,
                         ucs_status_string(st));
    p->owner->failed_.push_back(p);
  }

  caf::expected<peer*> connect(const std::string& address) {
    if (auto it = peers_.find(address); it != peers_.end())
      return it->second.get();
    auto p = std::make_unique<peer>();
    p->owner = this;
    p->address = address;
    ucp_ep_params_t ep{};
    ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE
                    | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep.address = reinterpret_cast<const ucp_address_t*>(p->address.data());
    ep.err_mode = peer_errors_ ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
    ep.err_handler.cb = &on_ep_error;
    ep.err_handler.arg = p.get();
    if (auto st = ucp_ep_create(worker_, &ep, &p->ep); st != UCS_OK)
      return make_error(errc::disconnected, "the peer agent cannot be reached",
                        status_text("ucp_ep_create", st));
    auto* raw = p.get();
    peers_.emplace(address, std::move(p));
    return raw;
  }

  caf::expected<ucp_rkey_h> rkey_of(peer& p, const std::string& packed) {
    if (auto it = p.rkeys.find(packed); it != p.rkeys.end())
      return it->second;
    ucp_rkey_h rkey = nullptr;
    if (auto st = ucp_ep_rkey_unpack(p.ep, packed.data(), &rkey); st != UCS_OK)
      return make_error(errc::not_found, "the remote region's key is not usable",
                        status_text("ucp_ep_rkey_unpack", st));
    p.rkeys.emplace(packed, rkey);
    return rkey;
  }

  // Fails a transfer that never reached UCX.
  void fail_early(transfer_request& req, caf::error err) {
    if (!stop_requested_.load())
      unpin_(req.local_region);
    auto done = std::move(req.on_done);
    in_flight_.fetch_sub(1);
    invoke(done, std::move(err), req.id);
  }

  void start(transfer_request req) {
    auto target = connect(req.remote.worker_address);
    if (!target)
      return fail_early(req, std::move(target.error()));
    auto rkey = rkey_of(**target, req.remote.rkey);
    if (!rkey)
      return fail_early(req, std::move(rkey.error()));
    auto o = std::make_unique<op>();
    o->owner = this;
    o->target = *target;
    o->deadline = clock_type::now() + timeout_;
    o->req = std::move(req);
    auto* raw = o.get();
    ++raw->target->ops;
    deadlines_.emplace(raw->deadline, raw->req.id);
    ops_.emplace(raw->req.id, std::move(o));
    ++live_ops_;
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.send = &on_request_done;
    param.user_data = raw;
    auto track = [raw](ucs_status_ptr_t r, std::string_view what) {
      if (r == nullptr)
        return true;
      if (UCS_PTR_IS_ERR(r)) {
        raw->err = make_error(errc::disconnected, "the transfer to the peer failed",
                              status_text(what, UCS_PTR_STATUS(r)));
        return false;
      }
      ++raw->pending;
      return true;
    };
    auto remote_base = raw->req.remote.base;
    for (const auto& b : raw->req.blocks) {
      auto* local = raw->req.local_base + b.local_offset;
      auto remote = remote_base + b.remote_offset;
      auto r = raw->req.dir == transfer_direction::write
                 ? ucp_put_nbx(raw->target->ep, local, b.length, remote, *rkey, &param)
                 : ucp_get_nbx(raw->target->ep, local, b.length, remote, *rkey, &param);
      if (!track(r, raw->req.dir == transfer_direction::write ? "ucp_put_nbx" : "ucp_get_nbx"))
        break;
    }
    // A put completes locally first; the flush makes it visible at the peer.
    if (!raw->err && raw->req.dir == transfer_direction::write && !raw->req.blocks.empty())
      track(ucp_ep_flush_nbx(raw->target->ep, &param), "ucp_ep_flush_nbx");
    raw->posted = true;
    if (raw->pending == 0)
      done_.push_back(raw->req.id);
  }

  void invoke(std::function<void(caf::error)>& done, caf::error err, transfer_id id) {
    if (err)
      log_->debug("ucx agent '{}': transfer {} failed: {}", name_, id, describe(err));
    try {
      done(std::move(err));
    } catch (const std::exception& ex) {
      log_->error("ucx agent '{}': on_done of transfer {} threw: {}", name_, id, ex.what());
    } catch (...) {
      log_->error("ucx agent '{}': on_done of transfer {} threw", name_, id);
    }
  }

  // Runs on_done once; the op may be gone when this returns (on_done may pump).
  void report(op& o, caf::error err) {
    if (o.reported)
      return;
    o.reported = true;
    auto done = std::move(o.req.on_done);
    auto id = o.req.id;
    in_flight_.fetch_sub(1);
    invoke(done, std::move(err), id);
  }

  void finish_completed() {
    while (!done_.empty()) {
      auto id = done_.front();
      done_.pop_front();
      auto it = ops_.find(id);
      if (it == ops_.end() || it->second->pending != 0)
        continue;
      auto o = std::move(it->second);
      ops_.erase(it);
      if (o->abandoned)
        continue;
      --live_ops_;
      deadlines_.erase({o->deadline, id});
      --o->target->ops;
      if (!o->err && !o->target->lanes_logged)
        log_lanes(*o->target);
      if (!stop_requested_.load())
        unpin_(o->req.local_region);
      report(*o, std::move(o->err));
    }
  }

  // Logs the lanes UCX chose for an endpoint once its first transfer succeeded (before that,
  // only the wire-up lane exists): the first endpoint at info, later ones at debug.
  void log_lanes(peer& p) {
    p.lanes_logged = true;
    if (first_endpoint_) {
      first_endpoint_ = false;
      log_->info("ucx agent '{}': lanes to its first peer: {}", name_, lanes_of(p.ep));
    } else {
      log_->debug("ucx agent '{}': lanes to a peer: {}", name_, lanes_of(p.ep));
    }
  }

  void check_deadlines() {
    auto now = clock_type::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = ops_.find(id);
      if (it == ops_.end() || it->second->abandoned)
        continue;
      auto* target = it->second->target;
      // Its requests are stuck on that endpoint: closing it cancels them where UCX can; the
      // rest are abandoned (the region is released, UCX keeps the op until it lets go).
      close_peer(*target);
      std::vector<transfer_id> stuck;
      for (const auto& [oid, o] : ops_)
        if (o->target == target && !o->abandoned && o->pending != 0)
          stuck.push_back(oid);
      for (auto oid : stuck)
        if (auto sit = ops_.find(oid); sit != ops_.end() && !sit->second->abandoned)
          abandon(*sit->second, oid == id);
    }
  }

  // Gives up on an op whose requests are stuck: reports it, releases its local region.
  void abandon(op& o, bool timed_out) {
    o.abandoned = true;
    --live_ops_;
    deadlines_.erase({o.deadline, o.req.id});
    --o.target->ops;
    o.target = nullptr;
    if (!stop_requested_.load())
      unpin_(o.req.local_region);
    auto err = timed_out ? make_error(errc::deadline_exceeded, "the data transfer timed out",
                                      fmt::format("agent {}: no completion within {} ms", name_,
                                                  timeout_.count()))
                         : make_error(errc::disconnected, "the peer agent stopped responding",
                                      fmt::format("agent {}: endpoint closed after a timeout",
                                                  o.req.remote.agent));
    report(o, std::move(err));
  }

  void handle_failed_peers() {
    while (!failed_.empty()) {
      auto* p = failed_.front();
      failed_.pop_front();
      if (p->closing)
        continue;
      std::vector<transfer_id> victims;
      for (const auto& [id, o] : ops_)
        if (o->target == p)
          victims.push_back(id);
      for (auto id : victims)
        if (auto it = ops_.find(id); it != ops_.end())
          report(*it->second, make_error(errc::disconnected, "the peer agent went away",
                                         fmt::format("agent {}", it->second->req.remote.agent)));
      close_peer(*p);
    }
  }

  void close_peer(peer& p) {
    if (p.closing)
      return;
    p.closing = true;
    auto it = peers_.find(p.address);
    if (it == peers_.end() || it->second.get() != &p)
      on_internal_error("ucx worker: closing a peer that is not registered");
    closing_.push_back(std::move(it->second));
    peers_.erase(it);
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    auto r = ucp_ep_close_nbx(p.ep, &param);
    if (r == nullptr || UCS_PTR_IS_ERR(r))
      p.closed = true;
    else
      p.close_req = r;
  }

  void reap_closing_peers() {
    for (auto it = closing_.begin(); it != closing_.end();) {
      auto& p = **it;
      if (p.close_req != nullptr && ucp_request_check_status(p.close_req) != UCS_INPROGRESS) {
        ucp_request_free(p.close_req);
        p.close_req = nullptr;
        p.closed = true;
      }
      if (!p.closed || p.ops != 0) {
        ++it;
        continue;
      }
      for (auto& [packed, rkey] : p.rkeys)
        ucp_rkey_destroy(rkey);
      it = closing_.erase(it);
    }
  }

  void shutdown() {
    auto until = clock_type::now() + shutdown_timeout_;
    while ((live_ops_ != 0 || !queues_empty()) && clock_type::now() < until)
      pump();
    if (live_ops_ != 0)
      log_->warn("ucx agent '{}' shuts down with {} transfers in flight; failing them", name_,
                 live_ops_);
    while (!peers_.empty())
      close_peer(*peers_.begin()->second);
    until = clock_type::now() + std::chrono::seconds{1};
    while ((live_ops_ != 0 || !closing_.empty() || !queues_empty()) && clock_type::now() < until)
      pump();
    std::vector<transfer_id> left;
    for (const auto& [id, o] : ops_)
      left.push_back(id);
    for (auto id : left)
      if (auto it = ops_.find(id); it != ops_.end())
        report(*it->second, make_error(errc::cancelled, "the data-plane agent shut down"));
    if (!ops_.empty() || !closing_.empty())
      log_->warn("ucx agent '{}': {} abandoned transfers and {} endpoints never completed in "
                 "UCX; they are dropped with the worker",
                 name_, ops_.size(), closing_.size());
    for (auto& [id, memh] : memhs_)
      ucp_mem_unmap(context_, memh);
    memhs_.clear();
    release();
    // The worker is gone: no UCX callback can refer to what is left any more.
    ops_.clear();
    closing_.clear();
    log_->debug("ucx agent '{}' stopped", name_);
  }

  void release() {
    if (worker_ != nullptr) {
      ucp_worker_destroy(worker_);
      worker_ = nullptr;
    }
    if (context_ != nullptr) {
      ucp_cleanup(context_);
      context_ = nullptr;
    }
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
      wake_fd_ = -1;
    }
  }

  logger_ptr log_;
  std::string name_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds shutdown_timeout_;
  std::chrono::milliseconds idle_wait_{100};
  bool peer_errors_ = false;
  unpin_fn unpin_;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  std::string address_;
  int efd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stop_requested_{false};
  std::atomic<size_t> in_flight_{0};
  // Guarded by mu_: work handed over by other threads.
  std::mutex mu_;
  std::deque<std::function<void()>> calls_;
  std::deque<transfer_request> submitted_;
  // Progress thread only.
  std::map<uint64_t, ucp_mem_h> memhs_;
  std::map<std::string, std::unique_ptr<peer>> peers_;
  std::vector<std::unique_ptr<peer>> closing_;
  std::deque<peer*> failed_;
  std::map<transfer_id, std::unique_ptr<op>> ops_;
  std::set<std::pair<clock_type::time_point, transfer_id>> deadlines_;
  std::deque<transfer_id> done_;
  bool first_endpoint_ = true;
  /// Ops in ops_ that are not abandoned.
  size_t live_ops_ = 0;
};

caf::expected<std::shared_ptr<ucx_worker>> ucx_worker::start(const ucx_options& opts,
                                                             unpin_fn unpin) {
  auto p = std::make_shared<impl>(opts, std::move(unpin));
  if (auto err = p->init(opts))
    return err;
  p->run_thread();
  return std::shared_ptr<ucx_worker>{new ucx_worker(std::move(p))};
}

ucx_worker::ucx_worker(std::shared_ptr<impl> p) : impl_(std::move(p)) {
}

ucx_worker::~ucx_worker() {
  impl_->stop();
}

const std::string& ucx_worker::address() const {
  return impl_->address();
}

bool ucx_worker::on_worker_thread() const {
  return impl_->on_worker_thread();
}

caf::expected<mapped_region> ucx_worker::map(uint64_t region_id, std::byte* base, size_t size,
                                             bool allocate) {
  return impl_->map(region_id, base, size, allocate);
}

caf::error ucx_worker::unmap(uint64_t region_id) {
  return impl_->unmap(region_id);
}

void ucx_worker::submit(transfer_request req) {
  impl_->submit(std::move(req));
}

size_t ucx_worker::in_flight() const {
  return impl_->in_flight();
}

void ucx_worker::pump() {
  impl_->pump();
}

void ucx_worker::stop() {
  impl_->stop();
}

} // namespace dynamo::ucx::internal
