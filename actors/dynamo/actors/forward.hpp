// Forwarding generate requests downstream: the building block of every component that sits on
// a generate edge (routers, guardrails, loggers). Tokens flow from the target straight to the
// original sink; the forwarding component sees only the final reply.
//
// CAF 0.17 never answers a request whose receiver dies while holding its response promise, so
// the table monitors every target and fails that target's requests itself (errc::disconnected)
// when it goes down. Each request settles exactly once: by the reply or by the target's death.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/error.hpp"

#include <caf/actor_addr.hpp>
#include <caf/system_messages.hpp>
#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include <functional>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dynamo::actors {

/// True when `err` says that a forwarded request never reached a live target, so sending it to
/// another target cannot duplicate work: the target was already dead when the request arrived
/// (CAF's request_receiver_down) or refused it as unavailable (draining, unreachable).
bool never_started(const caf::error& err);

/// The generate requests one actor has forwarded and not yet seen settled. Owned by that actor's
/// state; only that actor may use it.
class forward_table {
public:
  /// Runs when a request settles, before its promise is delivered; `err` is empty on success and
  /// may be rewritten (e.g. to add context).
  using settle_fn = std::function<void(request_id, caf::error&)>;

  /// Picks another target for request `id` that failed with `err` (never_started() holds) at
  /// target `failed`; nullopt to let the request fail.
  using retry_fn = std::function<std::optional<generate_actor>(
    request_id id, const caf::error& err, const caf::actor_addr& failed)>;

  /// Installs the callback run for every settled request (e.g. to release routing load) and,
  /// optionally, a retry policy: a request that never started is re-sent to the target
  /// `on_retry` picks, up to `max_attempts` sends in all.
  explicit forward_table(settle_fn on_settle = {}, retry_fn on_retry = {},
                         size_t max_attempts = 3)
    : on_settle_(std::move(on_settle)),
      on_retry_(std::move(on_retry)),
      max_attempts_(max_attempts) {
  }

  /// Sends `req` with `sink` to `target` and returns the promise the calling handler returns.
  /// Monitors `target` (once). Call from inside a handler of `self`; `self`'s down handler must
  /// call target_down(). With a retry policy the table keeps a copy of `req` until it settles.
  template <class Self>
  caf::typed_response_promise<generate_summary>
  forward(Self* self, const generate_actor& target, generate_request req, token_sink_actor sink) {
    auto promise = self->template make_response_promise<generate_summary>();
    forward_with(self, target, std::move(req), std::move(sink), promise);
    return promise;
  }

  /// As forward(), delivering to `promise` (made earlier, e.g. for a request that waited in a
  /// queue); callable from any handler of `self`.
  template <class Self>
  void forward_with(Self* self, const generate_actor& target, generate_request req,
                    token_sink_actor sink, caf::typed_response_promise<generate_summary> promise) {
    auto id = req.id;
    entry e;
    e.promise = promise;
    if (on_retry_) {
      e.req = req;
      e.sink = sink;
      if (!resend_)
        resend_ = [this, self](const generate_actor& next, generate_request r,
                               token_sink_actor s) { send(self, next, std::move(r), std::move(s)); };
    }
    entries_[id] = std::move(e);
    send(self, target, std::move(req), std::move(sink));
  }

  /// Fails every request forwarded to the terminated actor `down.source` with `disconnected`.
  /// Returns how many requests it failed.
  size_t target_down(const caf::down_msg& down) {
    monitored_.erase(down.source);
    std::vector<request_id> ids;
    for (const auto& [id, e] : entries_)
      if (e.target == down.source)
        ids.push_back(id);
    for (auto id : ids)
      settle(id,
             make_error(errc::disconnected, "the component serving the request went away",
                        caf::to_string(down.reason)),
             nullptr);
    return ids.size();
  }

  /// The target that request `id` was forwarded to, if it is still pending.
  caf::actor_addr target_of(request_id id) const {
    auto i = entries_.find(id);
    return i == entries_.end() ? caf::actor_addr{} : i->second.target;
  }

  /// The request `id` as forwarded, while it is pending and a retry policy keeps a copy;
  /// nullptr otherwise. Valid until the table changes.
  const generate_request* request_of(request_id id) const {
    auto i = entries_.find(id);
    return i == entries_.end() || !on_retry_ ? nullptr : &i->second.req;
  }

  /// Number of pending requests.
  size_t size() const noexcept { return entries_.size(); }

  /// True without pending requests.
  bool empty() const noexcept { return entries_.empty(); }

private:
  struct entry {
    caf::actor_addr target;
    caf::typed_response_promise<generate_summary> promise;
    generate_request req;   // kept with a retry policy
    token_sink_actor sink;  // kept with a retry policy
    size_t attempts = 0;
  };

  template <class Self>
  void send(Self* self, const generate_actor& target, generate_request req,
            token_sink_actor sink) {
    auto id = req.id;
    auto i = entries_.find(id);
    if (i == entries_.end())
      return;
    auto addr = target.address();
    i->second.target = addr;
    ++i->second.attempts;
    if (monitored_.insert(addr).second)
      self->monitor(target);
    self->request(target, caf::infinite, generate_atom::value, std::move(req), std::move(sink))
      .then([this, id](generate_summary& summary) { settle(id, caf::error{}, &summary); },
            [this, id, addr](caf::error& err) {
              if (!retry(id, err, addr))
                settle(id, std::move(err), nullptr);
            });
  }

  /// Re-sends request `id` after `err` at `failed` when the policy allows; true if it did.
  bool retry(request_id id, const caf::error& err, const caf::actor_addr& failed) {
    auto i = entries_.find(id);
    if (!on_retry_ || i == entries_.end() || i->second.target != failed
        || i->second.attempts >= max_attempts_ || !never_started(err))
      return false;
    auto next = on_retry_(id, err, failed);
    if (!next)
      return false;
    resend_(*next, i->second.req, i->second.sink);
    return true;
  }

  void settle(request_id id, caf::error err, generate_summary* summary) {
    auto i = entries_.find(id);
    if (i == entries_.end())
      return; // already settled by the target's death
    auto promise = std::move(i->second.promise);
    entries_.erase(i);
    if (on_settle_)
      on_settle_(id, err);
    if (err)
      promise.deliver(std::move(err));
    else
      promise.deliver(std::move(*summary));
  }

  settle_fn on_settle_;
  retry_fn on_retry_;
  /// Sends a request again from the owning actor (bound to it by the first forward()).
  std::function<void(const generate_actor&, generate_request, token_sink_actor)> resend_;
  size_t max_attempts_;
  std::unordered_map<request_id, entry> entries_;
  std::set<caf::actor_addr> monitored_;
};

} // namespace dynamo::actors
