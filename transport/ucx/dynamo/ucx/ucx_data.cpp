#include "dynamo/ucx/ucx_data.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ucx/internal/remote_key.hpp"
#include "dynamo/ucx/internal/ucx_worker.hpp"

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <unistd.h>
#include <utility>

namespace dynamo::ucx {

namespace {

/// A region's bookkeeping visible to every thread (the UCX handle lives on the worker).
struct region_entry {
  std::byte* base = nullptr;
  uint64_t size = 0;
  /// The packed remote_key peers use.
  std::string key;
  /// Transfers using the region right now.
  size_t pins = 0;
  /// Deregistration started: no new transfer may use it.
  bool dying = false;
};

/// A generated agent name: "ucx-<pid>-<random hex>".
std::string generated_name() {
  std::random_device rd;
  return fmt::format("ucx-{}-{:08x}", ::getpid(), rd());
}

class ucx_agent final : public data_plane {
public:
  ucx_agent(std::string name, std::shared_ptr<internal::ucx_worker> worker, logger_ptr log)
    : name_(std::move(name)), worker_(std::move(worker)), log_(std::move(log)) {
  }

  ~ucx_agent() override {
    worker_->stop();
  }

  std::string name() const override {
    return "ucx";
  }

  const std::string& agent() const override {
    return name_;
  }

  caf::expected<region_descriptor> register_region(void* base, size_t size) override {
    if (base == nullptr || size == 0)
      return make_error(errc::invalid_request, "a region needs a non-null base and a size > 0");
    return add_region(base, size, false);
  }

  caf::expected<allocated_region> allocate_region(size_t size) override {
    if (size == 0)
      return make_error(errc::invalid_request, "cannot allocate a region of 0 bytes");
    auto desc = add_region(nullptr, size, true);
    if (!desc)
      return std::move(desc.error());
    std::lock_guard guard{mu_};
    return allocated_region{regions_.at(desc->region_id).base, std::move(*desc)};
  }

  caf::error deregister_region(uint64_t region_id) override {
    {
      std::unique_lock lk{mu_};
      auto it = regions_.find(region_id);
      if (it == regions_.end() || it->second.dying)
        return make_error(errc::not_found, "unknown memory region",
                          fmt::format("agent {} region {}", name_, region_id));
      it->second.dying = true;
      if (worker_->on_worker_thread()) {
        // From on_done: drive the worker ourselves until the region's transfers are over.
        while (it->second.pins != 0) {
          lk.unlock();
          worker_->pump();
          lk.lock();
        }
      } else {
        unpinned_.wait(lk, [&it] { return it->second.pins == 0; });
      }
    }
    auto err = worker_->unmap(region_id);
    std::lock_guard guard{mu_};
    regions_.erase(region_id);
    return err;
  }

  caf::expected<transfer_id> transfer(transfer_direction dir, uint64_t local_region,
                                      const region_descriptor& remote,
                                      std::vector<block_copy> blocks,
                                      std::function<void(caf::error)> on_done) override {
    if (!on_done)
      return make_error(errc::invalid_request, "transfer needs an on_done callback");
    auto key = internal::unpack(remote.remote_key);
    if (!key)
      return make_error(errc::not_found, "the remote region's key is not a UCX key",
                        operator_detail(key.error()));
    if (key->agent != remote.agent)
      return make_error(errc::not_found, "unknown remote agent",
                        fmt::format("descriptor names agent '{}', its key was made by '{}'",
                                    remote.agent, key->agent));
    if (key->region_id != remote.region_id || key->size != remote.size)
      return make_error(errc::not_found, "unknown or stale remote memory region",
                        fmt::format("agent {} region {} (key for region {})", remote.agent,
                                    remote.region_id, key->region_id));
    internal::transfer_request req;
    {
      std::lock_guard guard{mu_};
      auto it = regions_.find(local_region);
      if (it == regions_.end() || it->second.dying)
        return make_error(errc::not_found, "unknown local memory region",
                          fmt::format("agent {} region {}", name_, local_region));
      if (auto err = validate_blocks(dir, blocks, it->second.size, key->size))
        return err;
      ++it->second.pins;
      req.local_base = it->second.base;
    }
    req.id = next_transfer_.fetch_add(1) + 1;
    req.dir = dir;
    req.local_region = local_region;
    req.remote = std::move(*key);
    req.blocks = coalesce(std::move(blocks));
    req.on_done = std::move(on_done);
    worker_->submit(std::move(req));
    return req.id;
  }

  size_t in_flight() const override {
    return worker_->in_flight();
  }

  size_t registered_regions() const override {
    std::lock_guard guard{mu_};
    size_t n = 0;
    for (const auto& [id, r] : regions_)
      n += r.dying ? 0 : 1;
    return n;
  }

  /// Called by the worker when a transfer no longer touches `region_id`.
  void unpin(uint64_t region_id) {
    {
      std::lock_guard guard{mu_};
      if (auto it = regions_.find(region_id); it != regions_.end() && it->second.pins > 0)
        --it->second.pins;
      else
        on_internal_error("ucx agent: unpinned a region that was not pinned");
    }
    unpinned_.notify_all();
  }

private:
  caf::expected<region_descriptor> add_region(void* base, size_t size, bool allocate) {
    uint64_t id = 0;
    {
      std::lock_guard guard{mu_};
      id = next_region_++;
    }
    auto mapped = worker_->map(id, static_cast<std::byte*>(base), size, allocate);
    if (!mapped)
      return std::move(mapped.error());
    internal::remote_key key{name_, id, reinterpret_cast<uint64_t>(mapped->base), size,
                             worker_->address(), std::move(mapped->rkey)};
    region_descriptor desc{name_, id, size, internal::pack(key)};
    log_->debug("ucx agent '{}': region {} {} ({} bytes at {})", name_, id,
                allocate ? "allocated" : "registered", size, static_cast<void*>(mapped->base));
    std::lock_guard guard{mu_};
    regions_[id] = region_entry{mapped->base, size, desc.remote_key, 0, false};
    return desc;
  }

  std::string name_;
  std::shared_ptr<internal::ucx_worker> worker_;
  logger_ptr log_;
  mutable std::mutex mu_;
  std::condition_variable unpinned_;
  std::map<uint64_t, region_entry> regions_;
  uint64_t next_region_ = 1;
  std::atomic<transfer_id> next_transfer_{0};
};

} // namespace

caf::expected<std::unique_ptr<data_plane>> make_ucx_agent(ucx_options opts) {
  if (opts.agent.empty())
    opts.agent = generated_name();
  if (!opts.log)
    opts.log = default_logger("data", opts.agent);
  if (opts.transfer_timeout.count() <= 0)
    return make_error(errc::invalid_request, "the UCX transfer timeout must be positive");
  // The worker calls back into the agent to unpin regions; the agent outlives the worker's
  // thread (its destructor stops and joins it), so a plain pointer set after construction is
  // enough.
  auto unpin = std::make_shared<std::function<void(uint64_t)>>();
  auto worker = internal::ucx_worker::start(
    opts, [unpin](uint64_t region_id) { (*unpin)(region_id); });
  if (!worker)
    return std::move(worker.error());
  auto agent = std::make_unique<ucx_agent>(opts.agent, std::move(*worker), opts.log);
  *unpin = [raw = agent.get()](uint64_t region_id) { raw->unpin(region_id); };
  return std::unique_ptr<data_plane>{std::move(agent)};
}

} // namespace dynamo::ucx
