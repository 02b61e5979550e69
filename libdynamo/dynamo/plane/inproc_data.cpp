#include "dynamo/plane/inproc_data.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace dynamo {

namespace {

using job = std::function<void()>;

/// Copy threads and their queue. Each worker holds the pool alive; the fabric stops it.
struct job_pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<job> jobs;
  bool stopping = false;
  std::vector<std::thread> threads;
};

/// The pool whose worker the current thread is, if any.
thread_local const job_pool* current_pool = nullptr;

void worker_loop(const std::shared_ptr<job_pool>& pool) {
  current_pool = pool.get();
  std::unique_lock lk{pool->mu};
  for (;;) {
    pool->cv.wait(lk, [&pool] { return pool->stopping || !pool->jobs.empty(); });
    if (pool->jobs.empty())
      return;
    auto next = std::move(pool->jobs.front());
    pool->jobs.pop_front();
    lk.unlock();
    next();
    next = nullptr;
    lk.lock();
  }
}

// Runs one queued job on the calling thread; false if the queue was empty.
bool help_one(job_pool& pool) {
  job next;
  {
    std::lock_guard guard{pool.mu};
    if (pool.jobs.empty())
      return false;
    next = std::move(pool.jobs.front());
    pool.jobs.pop_front();
  }
  next();
  return true;
}

/// Frees memory from aligned_alloc.
struct free_deleter {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};

/// Alignment of allocate_region's memory.
constexpr size_t region_alignment = 64;

struct region_entry {
  std::byte* base = nullptr;
  /// Memory the agent allocated (allocate_region); freed with the entry.
  std::unique_ptr<std::byte, free_deleter> owned;
  uint64_t size = 0;
  std::string key;
  /// Copies using the region right now.
  size_t pins = 0;
  /// Deregistration started: no new transfer may use it.
  bool dying = false;
};

/// The state of one agent; guarded by the fabric core's mutex.
struct agent_core {
  std::string name;
  std::map<uint64_t, region_entry> regions;
  uint64_t next_region = 1;
  transfer_id next_transfer = 1;
  /// Transfers whose on_done has not started.
  size_t in_flight = 0;
  /// Transfers whose on_done has not returned.
  size_t active = 0;
};

using agent_ptr = std::shared_ptr<agent_core>;

/// The agent whose on_done runs on the current thread, if any.
thread_local const agent_core* current_callback = nullptr;

/// A validated transfer waiting for (or running on) a worker.
struct transfer_job {
  agent_ptr local;
  uint64_t local_region;
  std::weak_ptr<agent_core> remote;
  region_descriptor remote_desc;
  transfer_direction dir;
  std::vector<block_copy> blocks;
  std::function<void(caf::error)> on_done;
};

region_entry* find_live(agent_core& agent, uint64_t region_id) {
  auto it = agent.regions.find(region_id);
  return it == agent.regions.end() || it->second.dying ? nullptr : &it->second;
}

region_entry* find_remote(agent_core& agent, const region_descriptor& desc) {
  auto* r = find_live(agent, desc.region_id);
  return r != nullptr && r->key == desc.remote_key && r->size == desc.size ? r : nullptr;
}

} // namespace

class inproc_fabric::core : public std::enable_shared_from_this<core> {
public:
  explicit core(inproc_fabric_options opts)
    : log_(opts.log ? std::move(opts.log) : default_logger("data")),
      keygen_(std::random_device{}()),
      pool_(std::make_shared<job_pool>()) {
    auto n = std::max<size_t>(opts.workers, 1);
    for (size_t i = 0; i < n; ++i)
      pool_->threads.emplace_back([pool = pool_] { worker_loop(pool); });
  }

  ~core() {
    std::vector<std::thread> threads;
    {
      std::lock_guard guard{pool_->mu};
      pool_->stopping = true;
      threads.swap(pool_->threads);
    }
    pool_->cv.notify_all();
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id())
        t.detach(); // The last reference died inside a job; this worker exits on return.
      else
        t.join();
    }
  }

  agent_ptr attach(std::string name) {
    auto agent = std::make_shared<agent_core>();
    std::lock_guard guard{mu_};
    if (name.empty())
      name = fmt::format("agent-{}", ++generated_names_);
    if (directory_.contains(name))
      log_->warn("agent name '{}' taken over by a new agent", name);
    agent->name = name;
    directory_[std::move(name)] = agent;
    return agent;
  }

  // Withdraws `agent`, lets its transfers finish and waits until no copy touches its regions.
  void detach(const agent_ptr& agent) {
    std::unique_lock lk{mu_};
    if (auto it = directory_.find(agent->name); it != directory_.end() && it->second == agent)
      directory_.erase(it);
    size_t own = current_callback == agent.get() ? 1 : 0;
    wait_helping(lk, [&agent, own] { return agent->active == own; });
    for (auto& [id, r] : agent->regions)
      r.dying = true;
    changed_.wait(lk, [&agent] {
      return std::all_of(agent->regions.begin(), agent->regions.end(),
                         [](const auto& kv) { return kv.second.pins == 0; });
    });
    agent->regions.clear();
  }

  caf::expected<region_descriptor> register_region(agent_core& agent, void* base, size_t size) {
    if (base == nullptr || size == 0)
      return make_error(errc::invalid_request, "a region needs a non-null base and a size > 0");
    std::lock_guard guard{mu_};
    auto id = agent.next_region++;
    auto& r = agent.regions[id];
    r.base = static_cast<std::byte*>(base);
    r.size = size;
    r.key = fmt::format("{:016x}", keygen_());
    return region_descriptor{agent.name, id, size, r.key};
  }

  caf::expected<allocated_region> allocate_region(agent_core& agent, size_t size) {
    if (size == 0)
      return make_error(errc::invalid_request, "cannot allocate a region of 0 bytes");
    if (size > std::numeric_limits<size_t>::max() - region_alignment)
      return make_error(errc::invalid_request, "region size too large",
                        fmt::format("{} bytes", size));
    auto rounded = (size + region_alignment - 1) / region_alignment * region_alignment;
    std::unique_ptr<std::byte, free_deleter> mem{
      static_cast<std::byte*>(std::aligned_alloc(region_alignment, rounded))};
    if (!mem)
      return make_error(errc::unavailable, "out of memory for a data-plane region",
                        fmt::format("aligned_alloc of {} bytes failed", rounded));
    std::memset(mem.get(), 0, rounded);
    auto desc = register_region(agent, mem.get(), size);
    if (!desc)
      return std::move(desc.error());
    std::lock_guard guard{mu_};
    auto& r = agent.regions.at(desc->region_id);
    r.owned = std::move(mem);
    return allocated_region{r.base, std::move(*desc)};
  }

  caf::error deregister_region(agent_core& agent, uint64_t region_id) {
    std::unique_lock lk{mu_};
    auto* r = find_live(agent, region_id);
    if (r == nullptr)
      return make_error(errc::not_found, "unknown memory region",
                        fmt::format("agent {} region {}", agent.name, region_id));
    r->dying = true;
    changed_.wait(lk, [r] { return r->pins == 0; });
    agent.regions.erase(region_id);
    return {};
  }

  caf::expected<transfer_id> start(const agent_ptr& local, transfer_direction dir,
                                   uint64_t local_region, const region_descriptor& remote,
                                   std::vector<block_copy> blocks,
                                   std::function<void(caf::error)> on_done) {
    if (!on_done)
      return make_error(errc::invalid_request, "transfer needs an on_done callback");
    transfer_id id = 0;
    agent_ptr peer;
    {
      std::lock_guard guard{mu_};
      auto* lr = find_live(*local, local_region);
      if (lr == nullptr)
        return make_error(errc::not_found, "unknown local memory region",
                          fmt::format("agent {} region {}", local->name, local_region));
      auto it = directory_.find(remote.agent);
      if (it == directory_.end())
        return make_error(errc::not_found, "unknown remote agent",
                          fmt::format("agent '{}'", remote.agent));
      peer = it->second;
      auto* rr = find_remote(*peer, remote);
      if (rr == nullptr)
        return make_error(errc::not_found, "unknown or stale remote memory region",
                          fmt::format("agent {} region {}", remote.agent, remote.region_id));
      if (auto err = validate_blocks(dir, blocks, lr->size, rr->size))
        return err;
      id = local->next_transfer++;
      ++local->in_flight;
      ++local->active;
    }
    auto tj = std::make_shared<transfer_job>(transfer_job{local, local_region, peer, remote, dir,
                                                          coalesce(std::move(blocks)),
                                                          std::move(on_done)});
    {
      std::lock_guard guard{pool_->mu};
      pool_->jobs.emplace_back([self = shared_from_this(), tj] { self->execute(*tj); });
    }
    pool_->cv.notify_one();
    return id;
  }

  size_t in_flight(const agent_core& agent) const {
    std::lock_guard guard{mu_};
    return agent.in_flight;
  }

  size_t regions(const agent_core& agent) const {
    std::lock_guard guard{mu_};
    size_t n = 0;
    for (const auto& [id, r] : agent.regions)
      n += r.dying ? 0 : 1;
    return n;
  }

  std::vector<std::string> agents() const {
    std::vector<std::string> result;
    std::lock_guard guard{mu_};
    for (const auto& [name, agent] : directory_)
      result.push_back(name);
    return result;
  }

private:
  // Waits for `pred`; on a worker of this fabric it runs queued jobs meanwhile, so that a
  // wait from inside on_done cannot starve the jobs it waits for.
  template <class Pred>
  void wait_helping(std::unique_lock<std::mutex>& lk, Pred pred) {
    while (!pred()) {
      if (current_pool == pool_.get()) {
        lk.unlock();
        bool ran = help_one(*pool_);
        lk.lock();
        if (ran)
          continue;
      }
      // What is left runs on other workers, which notify changed_ when they finish.
      changed_.wait(lk);
    }
  }

  // Runs on a worker: pins both regions, copies, unpins, reports.
  void execute(transfer_job& tj) {
    caf::error err;
    region_entry* lr = nullptr;
    region_entry* rr = nullptr;
    {
      std::lock_guard guard{mu_};
      auto peer = tj.remote.lock();
      if (auto it = peer ? directory_.find(peer->name) : directory_.end();
          it == directory_.end() || it->second != peer) {
        err = make_error(errc::disconnected, "the remote agent went away",
                         fmt::format("agent '{}'", tj.remote_desc.agent));
      } else if (lr = find_live(*tj.local, tj.local_region); lr == nullptr) {
        err = make_error(errc::not_found, "the local memory region was deregistered",
                         fmt::format("agent {} region {}", tj.local->name, tj.local_region));
      } else if (rr = find_remote(*peer, tj.remote_desc); rr == nullptr) {
        err = make_error(errc::not_found, "the remote memory region was deregistered",
                         fmt::format("agent {} region {}", tj.remote_desc.agent,
                                     tj.remote_desc.region_id));
      } else {
        ++lr->pins;
        ++rr->pins;
      }
    }
    if (!err) {
      for (const auto& b : tj.blocks) {
        auto* local = lr->base + b.local_offset;
        auto* remote = rr->base + b.remote_offset;
        if (tj.dir == transfer_direction::read)
          std::memmove(local, remote, b.length);
        else
          std::memmove(remote, local, b.length);
      }
    }
    {
      std::lock_guard guard{mu_};
      if (!err) {
        --lr->pins;
        --rr->pins;
      }
      --tj.local->in_flight;
    }
    changed_.notify_all();
    if (err)
      log_->debug("transfer of agent {} failed: {}", tj.local->name, describe(err));
    auto outer = std::exchange(current_callback, tj.local.get());
    try {
      tj.on_done(std::move(err));
    } catch (const std::exception& ex) {
      log_->error("on_done of agent {} threw: {}", tj.local->name, ex.what());
    } catch (...) {
      log_->error("on_done of agent {} threw a non-standard exception", tj.local->name);
    }
    current_callback = outer;
    tj.on_done = nullptr;
    {
      std::lock_guard guard{mu_};
      --tj.local->active;
    }
    changed_.notify_all();
  }

  logger_ptr log_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, agent_ptr, std::less<>> directory_;
  std::mt19937_64 keygen_;
  uint64_t generated_names_ = 0;
  std::shared_ptr<job_pool> pool_;
};

namespace {

class inproc_agent final : public data_plane {
public:
  inproc_agent(std::shared_ptr<inproc_fabric::core> fabric, agent_ptr self)
    : fabric_(std::move(fabric)), self_(std::move(self)) {
  }

  ~inproc_agent() override {
    fabric_->detach(self_);
  }

  std::string name() const override {
    return "inproc";
  }

  const std::string& agent() const override {
    return self_->name;
  }

  caf::expected<region_descriptor> register_region(void* base, size_t size) override {
    return fabric_->register_region(*self_, base, size);
  }

  caf::expected<allocated_region> allocate_region(size_t size) override {
    return fabric_->allocate_region(*self_, size);
  }

  caf::error deregister_region(uint64_t region_id) override {
    return fabric_->deregister_region(*self_, region_id);
  }

  caf::expected<transfer_id> transfer(transfer_direction dir, uint64_t local_region,
                                      const region_descriptor& remote,
                                      std::vector<block_copy> blocks,
                                      std::function<void(caf::error)> on_done) override {
    return fabric_->start(self_, dir, local_region, remote, std::move(blocks),
                          std::move(on_done));
  }

  size_t in_flight() const override {
    return fabric_->in_flight(*self_);
  }

  size_t registered_regions() const override {
    return fabric_->regions(*self_);
  }

private:
  std::shared_ptr<inproc_fabric::core> fabric_;
  agent_ptr self_;
};

} // namespace

inproc_fabric::inproc_fabric(inproc_fabric_options opts)
  : core_(std::make_shared<core>(std::move(opts))) {
}

inproc_fabric::~inproc_fabric() = default;

std::unique_ptr<data_plane> inproc_fabric::make_agent(std::string name) {
  return std::make_unique<inproc_agent>(core_, core_->attach(std::move(name)));
}

std::vector<std::string> inproc_fabric::agents() const {
  return core_->agents();
}

std::shared_ptr<inproc_fabric> make_inproc_fabric(inproc_fabric_options opts) {
  return std::make_shared<inproc_fabric>(std::move(opts));
}

} // namespace dynamo
