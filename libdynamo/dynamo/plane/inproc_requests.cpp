#include "dynamo/plane/inproc_requests.hpp"

#include "dynamo/error.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/attachable.hpp>
#include <fmt/format.h>

#include <map>
#include <mutex>
#include <utility>

namespace dynamo {

namespace {

/// One registration. `generation` tells apart successive registrations of one address.
struct registration {
  caf::actor handler;
  uint64_t generation = 0;
};

/// The registry, shared with the cleanup attachables (which hold it weakly).
struct registry {
  std::mutex mu;
  std::map<instance_endpoint, registration> entries;
  uint64_t next_generation = 1;
  logger_ptr log;

  // Removes the entry of `address` if it is still registration `generation`; returns its
  // handler so that the caller drops it outside the lock.
  caf::actor take(const instance_endpoint& address, uint64_t generation) {
    std::lock_guard guard{mu};
    auto it = entries.find(address);
    if (it == entries.end() || it->second.generation != generation)
      return {};
    auto hdl = std::move(it->second.handler);
    entries.erase(it);
    return hdl;
  }
};

/// Token subtype of withdraw_on_exit; the token's pointer points at a generation number.
constexpr size_t withdraw_token_type = 0x64796e72;

/// Attached to a served actor: withdraws its registration when the actor terminates.
class withdraw_on_exit final : public caf::attachable {
public:
  withdraw_on_exit(std::weak_ptr<registry> reg, instance_endpoint address, uint64_t generation)
    : reg_(std::move(reg)), address_(std::move(address)), generation_(generation) {
  }

  void actor_exited(const caf::error& reason, caf::execution_unit*) override {
    auto reg = reg_.lock();
    if (!reg)
      return;
    auto hdl = reg->take(address_, generation_);
    if (hdl)
      reg->log->info("withdrew {}: its actor terminated ({})", address_.to_string(),
                     caf::to_string(reason));
  }

  bool matches(const token& what) override {
    return what.subtype == withdraw_token_type
           && *static_cast<const uint64_t*>(what.ptr) == generation_;
  }

private:
  std::weak_ptr<registry> reg_;
  instance_endpoint address_;
  uint64_t generation_;
};

void detach_cleanup(const caf::actor& hdl, uint64_t generation) {
  hdl->detach(caf::attachable::token{withdraw_token_type, &generation});
}

class inproc_requests final : public request_plane {
public:
  inproc_requests(caf::actor_system& sys, logger_ptr log)
    : sys_(sys), reg_(std::make_shared<registry>()) {
    reg_->log = log ? std::move(log) : default_logger("requests");
  }

  ~inproc_requests() override {
    std::map<instance_endpoint, registration> entries;
    {
      std::lock_guard guard{reg_->mu};
      entries.swap(reg_->entries);
    }
    for (const auto& [address, entry] : entries)
      detach_cleanup(entry.handler, entry.generation);
  }

  std::string name() const override {
    return "inproc";
  }

  caf::error serve(const instance_endpoint& address, caf::actor handler) override {
    if (auto err = validate_serve(address, handler, sys_))
      return err;
    uint64_t generation = 0;
    {
      std::lock_guard guard{reg_->mu};
      if (reg_->entries.contains(address))
        return make_error(errc::invalid_request,
                          fmt::format("'{}' is already served", address.to_string()));
      generation = reg_->next_generation++;
      reg_->entries.emplace(address, registration{handler, generation});
    }
    // Outside the lock: if the actor already terminated, the cleanup runs right here.
    handler->attach(caf::attachable_ptr{new withdraw_on_exit(reg_, address, generation)});
    reg_->log->debug("serving {}", address.to_string());
    return {};
  }

  void withdraw(const instance_endpoint& address) override {
    registration entry;
    {
      std::lock_guard guard{reg_->mu};
      auto it = reg_->entries.find(address);
      if (it == reg_->entries.end())
        return;
      entry = std::move(it->second);
      reg_->entries.erase(it);
    }
    detach_cleanup(entry.handler, entry.generation);
    reg_->log->debug("withdrew {}", address.to_string());
  }

  caf::expected<caf::actor> connect(const instance_endpoint& address) override {
    if (auto err = validate_address(address))
      return err;
    std::lock_guard guard{reg_->mu};
    auto it = reg_->entries.find(address);
    if (it == reg_->entries.end())
      return make_error(errc::not_found,
                        fmt::format("nothing is served at '{}'", address.to_string()));
    return it->second.handler;
  }

  std::vector<instance_endpoint> served() const override {
    std::vector<instance_endpoint> result;
    std::lock_guard guard{reg_->mu};
    for (const auto& [address, entry] : reg_->entries)
      result.push_back(address);
    return result;
  }

private:
  caf::actor_system& sys_;
  std::shared_ptr<registry> reg_;
};

} // namespace

std::unique_ptr<request_plane> make_inproc_requests(caf::actor_system& sys, logger_ptr log) {
  return std::make_unique<inproc_requests>(sys, std::move(log));
}

} // namespace dynamo
