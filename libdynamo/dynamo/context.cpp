#include "dynamo/context.hpp"

#include "dynamo/error.hpp"

#include <algorithm>
#include <utility>

namespace dynamo {

std::string_view to_string(cancel_kind x) noexcept {
  switch (x) {
    case cancel_kind::none:
      return "none";
    case cancel_kind::stop_generating:
      return "stop_generating";
    case cancel_kind::kill:
      return "kill";
  }
  return "invalid";
}

struct request_context::callback_entry {
  explicit callback_entry(std::function<void(cancel_kind)> f) : fn(std::move(f)) {}
  std::function<void(cancel_kind)> fn;
  /// The strongest kind handed to `fn` so far; makes every kind run at most once, in order.
  std::atomic<cancel_kind> delivered{cancel_kind::none};
};

request_context::request_context(passkey, std::string id, clock::time_point deadline,
                                 cancel_kind initial)
  : id_(std::move(id)), deadline_(deadline), kind_(initial) {
  // nop
}

request_context::~request_context() = default;

std::shared_ptr<request_context> request_context::make(std::string id,
                                                       clock::time_point deadline) {
  return std::make_shared<request_context>(passkey{}, std::move(id), deadline, cancel_kind::none);
}

const std::string& request_context::id() const noexcept {
  return id_;
}

request_context::clock::time_point request_context::deadline() const noexcept {
  return deadline_;
}

bool request_context::expired(clock::time_point now) const noexcept {
  return now >= deadline_;
}

cancel_kind request_context::cancelled() const noexcept {
  return kind_.load(std::memory_order_acquire);
}

bool request_context::is_stopped() const noexcept {
  return cancelled() != cancel_kind::none;
}

bool request_context::is_killed() const noexcept {
  return cancelled() == cancel_kind::kill;
}

void request_context::stop_generating() {
  cancel(cancel_kind::stop_generating);
}

void request_context::kill() {
  cancel(cancel_kind::kill);
}

std::shared_ptr<request_context> request_context::make_child(std::string id,
                                                             clock::time_point deadline) {
  std::lock_guard guard{mtx_};
  // Reading the level and registering the child under one lock: a concurrent cancel either
  // sees the child in children_ or the child starts with the level it set.
  auto child = std::make_shared<request_context>(passkey{}, std::move(id),
                                                 std::min(deadline, deadline_),
                                                 kind_.load(std::memory_order_relaxed));
  if (children_.size() >= prune_at_) {
    std::erase_if(children_, [](const auto& weak) { return weak.expired(); });
    prune_at_ = std::max<size_t>(8, children_.size() * 2);
  }
  children_.push_back(child);
  return child;
}

uint64_t request_context::on_cancel(std::function<void(cancel_kind)> cb) {
  auto entry = std::make_shared<callback_entry>(std::move(cb));
  uint64_t token = 0;
  cancel_kind now = cancel_kind::none;
  {
    std::lock_guard guard{mtx_};
    token = next_token_++;
    now = kind_.load(std::memory_order_relaxed);
    // After a kill no further step can come, so the entry need not be kept.
    if (now != cancel_kind::kill)
      callbacks_.emplace(token, entry);
  }
  if (now != cancel_kind::none)
    deliver(*entry, now);
  return token;
}

void request_context::remove_callback(uint64_t token) {
  entry_ptr removed;
  {
    std::lock_guard guard{mtx_};
    auto i = callbacks_.find(token);
    if (i == callbacks_.end())
      return;
    removed = std::move(i->second);
    callbacks_.erase(i);
  }
  // `removed` dies here, outside the lock: its captures may run arbitrary destructors.
}

size_t request_context::live_children() const {
  std::lock_guard guard{mtx_};
  return static_cast<size_t>(std::count_if(children_.begin(), children_.end(),
                                           [](const auto& weak) { return !weak.expired(); }));
}

bool request_context::mark(cancel_kind kind, std::vector<entry_ptr>& cbs,
                           std::vector<std::shared_ptr<request_context>>& kids) {
  std::lock_guard guard{mtx_};
  for (const auto& weak : children_)
    if (auto child = weak.lock())
      kids.push_back(std::move(child));
  if (kind_.load(std::memory_order_relaxed) >= kind)
    return false;
  kind_.store(kind, std::memory_order_release);
  cbs.reserve(callbacks_.size());
  for (const auto& [token, entry] : callbacks_)
    cbs.push_back(entry);
  if (kind == cancel_kind::kill)
    callbacks_.clear();
  return true;
}

void request_context::deliver(callback_entry& entry, cancel_kind kind) {
  auto prev = entry.delivered.load(std::memory_order_acquire);
  do {
    if (prev >= kind)
      return;
  } while (!entry.delivered.compare_exchange_weak(prev, kind, std::memory_order_acq_rel));
  try {
    entry.fn(kind);
  } catch (...) {
    on_internal_error("a request_context cancel callback threw an exception");
  }
}

void request_context::cancel(cancel_kind kind) {
  // Walks the whole subtree even where a level is already set, so that when this returns every
  // descendant is marked, also while another thread propagates the same cancellation.
  std::vector<entry_ptr> cbs;
  std::vector<std::shared_ptr<request_context>> kids;
  if (mark(kind, cbs, kids))
    for (const auto& entry : cbs)
      deliver(*entry, kind);
  while (!kids.empty()) {
    auto child = std::move(kids.back());
    kids.pop_back();
    cbs.clear();
    if (child->mark(kind, cbs, kids))
      for (const auto& entry : cbs)
        deliver(*entry, kind);
  }
}

} // namespace dynamo
