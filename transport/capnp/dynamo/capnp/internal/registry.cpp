#include "dynamo/capnp/internal/registry.hpp"

#include "dynamo/error.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/attachable.hpp>
#include <fmt/format.h>

#include <utility>

namespace dynamo::capnp::internal {

namespace {

/// Token subtype of withdraw_on_exit; the token's pointer points at a generation number.
constexpr size_t withdraw_token_type = 0x63706e70;

/// Attached to a served actor: withdraws its registration when the actor terminates.
class withdraw_on_exit final : public caf::attachable {
public:
  withdraw_on_exit(std::weak_ptr<served_registry> reg, instance_endpoint address,
                   uint64_t generation)
    : reg_(std::move(reg)), address_(std::move(address)), generation_(generation) {
  }

  void actor_exited(const caf::error& reason, caf::execution_unit*) override {
    if (auto reg = reg_.lock())
      reg->expire(address_, generation_, reason);
  }

  bool matches(const token& what) override {
    return what.subtype == withdraw_token_type
           && *static_cast<const uint64_t*>(what.ptr) == generation_;
  }

private:
  std::weak_ptr<served_registry> reg_;
  instance_endpoint address_;
  uint64_t generation_;
};

} // namespace

served_registry::served_registry(logger_ptr log) : log_(std::move(log)) {
}

caf::error served_registry::add(const instance_endpoint& address, caf::actor handler) {
  uint64_t generation = 0;
  {
    std::lock_guard guard{mu_};
    if (entries_.contains(address))
      return make_error(errc::invalid_request,
                        fmt::format("'{}' is already served", address.to_string()));
    generation = next_generation_++;
    entries_.emplace(address, entry{handler, generation});
  }
  // Outside the lock: if the actor already terminated, the cleanup runs right here.
  handler->attach(caf::attachable_ptr{new withdraw_on_exit(weak_from_this(), address, generation)});
  return {};
}

void served_registry::remove(const instance_endpoint& address) {
  entry e;
  {
    std::lock_guard guard{mu_};
    auto it = entries_.find(address);
    if (it == entries_.end())
      return;
    e = std::move(it->second);
    entries_.erase(it);
  }
  detach(e);
}

caf::actor served_registry::find(const instance_endpoint& address) const {
  std::lock_guard guard{mu_};
  auto it = entries_.find(address);
  return it == entries_.end() ? caf::actor{} : it->second.handler;
}

std::vector<instance_endpoint> served_registry::list() const {
  std::vector<instance_endpoint> result;
  std::lock_guard guard{mu_};
  for (const auto& [address, e] : entries_)
    result.push_back(address);
  return result;
}

void served_registry::clear() {
  std::map<instance_endpoint, entry> entries;
  {
    std::lock_guard guard{mu_};
    entries.swap(entries_);
  }
  for (const auto& [address, e] : entries)
    detach(e);
}

void served_registry::expire(const instance_endpoint& address, uint64_t generation,
                             const caf::error& reason) {
  caf::actor gone;
  {
    std::lock_guard guard{mu_};
    auto it = entries_.find(address);
    if (it == entries_.end() || it->second.generation != generation)
      return;
    gone = std::move(it->second.handler);
    entries_.erase(it);
  }
  log_->info("withdrew {}: its actor terminated ({})", address.to_string(),
             caf::to_string(reason));
}

void served_registry::detach(const entry& e) {
  auto generation = e.generation;
  e.handler->detach(caf::attachable::token{withdraw_token_type, &generation});
}

} // namespace dynamo::capnp::internal
