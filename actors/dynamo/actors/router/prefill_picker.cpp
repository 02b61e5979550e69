#include "dynamo/actors/router/prefill_picker.hpp"

#include <algorithm>
#include <iterator>

namespace dynamo::actors {

prefill_picker::instance_load* prefill_picker::find(instance_id id) {
  auto i = std::find_if(live_.begin(), live_.end(),
                        [id](const instance_load& x) { return x.instance == id; });
  return i != live_.end() ? &*i : nullptr;
}

void prefill_picker::apply(instance_id id, bool up) {
  if (up) {
    if (find(id) == nullptr)
      live_.push_back(instance_load{id, 0, 0});
    return;
  }
  auto i = std::find_if(live_.begin(), live_.end(),
                        [id](const instance_load& x) { return x.instance == id; });
  if (i == live_.end())
    return;
  auto pos = static_cast<size_t>(std::distance(live_.begin(), i));
  live_.erase(i);
  if (pos < cursor_)
    --cursor_;
  if (cursor_ >= live_.size())
    cursor_ = 0;
  std::erase_if(assigned_, [id](const auto& kv) { return kv.second == id; });
}

std::optional<instance_id> prefill_picker::pick(request_id id) {
  finish(id);
  if (live_.empty())
    return std::nullopt;
  const size_t n = live_.size();
  size_t best = cursor_ % n;
  for (size_t k = 1; k < n; ++k) {
    size_t i = (cursor_ + k) % n;
    if (live_[i].active < live_[best].active)
      best = i;
  }
  auto& chosen = live_[best];
  ++chosen.active;
  ++chosen.assigned;
  assigned_[id] = chosen.instance;
  cursor_ = (best + 1) % n;
  return chosen.instance;
}

bool prefill_picker::finish(request_id id) {
  auto i = assigned_.find(id);
  if (i == assigned_.end())
    return false;
  if (auto* load = find(i->second); load != nullptr && load->active > 0)
    --load->active;
  assigned_.erase(i);
  return true;
}

} // namespace dynamo::actors
