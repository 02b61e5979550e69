#include "dynamo/workload/schedule.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

namespace dynamo::workload {

namespace {

enum : uint8_t { waiting = 0, eligible = 1, taken = 2, completed = 3 };

} // namespace

caf::expected<dispatch_schedule> dispatch_schedule::make(const workload& w, schedule_config cfg) {
  if (!std::isfinite(cfg.speedup) || cfg.speedup <= 0.0)
    return make_error(errc::invalid_request,
                      fmt::format("the speedup must be a finite number > 0, got {}", cfg.speedup));
  if (auto err = validate(w))
    return err;
  return dispatch_schedule{w, cfg};
}

dispatch_schedule::dispatch_schedule(const workload& w, schedule_config cfg)
  : w_(&w), cfg_(cfg), next_turn_(w.requests.size(), none), state_(w.requests.size(), waiting),
    total_(w.requests.size()) {
  std::unordered_map<uint64_t, size_t> last_turn;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& spec = w.requests[i];
    if (spec.session == 0) {
      release(i, 0.0);
      continue;
    }
    auto [it, fresh] = last_turn.try_emplace(spec.session, i);
    if (fresh) {
      release(i, 0.0);
    } else {
      next_turn_[it->second] = i;
      it->second = i;
    }
  }
}

void dispatch_schedule::release(size_t index, double now_s) {
  state_[index] = eligible;
  auto key = cfg_.concurrency == 0 ? now_s + w_->requests[index].at_s / cfg_.speedup
                                   : static_cast<double>(index);
  ready_.push(entry{key, index});
}

std::vector<due_request> dispatch_schedule::take_due(double now_s) {
  std::vector<due_request> out;
  while (!ready_.empty()) {
    auto top = ready_.top();
    double intended = 0.0;
    if (cfg_.concurrency == 0) {
      if (top.key > now_s)
        break;
      intended = top.key;
    } else {
      if (outstanding_ >= cfg_.concurrency)
        break;
      intended = now_s;
    }
    ready_.pop();
    state_[top.index] = taken;
    ++taken_;
    ++outstanding_;
    out.push_back(due_request{top.index, intended});
  }
  return out;
}

double dispatch_schedule::next_due_s() const noexcept {
  constexpr double never = std::numeric_limits<double>::infinity();
  if (ready_.empty())
    return never;
  if (cfg_.concurrency == 0)
    return ready_.top().key;
  return outstanding_ < cfg_.concurrency ? 0.0 : never;
}

void dispatch_schedule::complete(size_t index, double now_s) {
  if (index >= state_.size() || state_[index] != taken)
    return;
  state_[index] = completed;
  --outstanding_;
  if (next_turn_[index] != none)
    release(next_turn_[index], now_s);
}

} // namespace dynamo::workload
