#include "dynamo/openai/stop_matcher.hpp"

#include <algorithm>
#include <cstdint>

namespace dynamo::openai {

namespace {

/// Position where an incomplete UTF-8 sequence at the end of `text` begins, or text.size().
size_t incomplete_utf8_tail(std::string_view text) noexcept {
  auto limit = std::min<size_t>(text.size(), 3);
  for (size_t back = 1; back <= limit; ++back) {
    auto byte = static_cast<uint8_t>(text[text.size() - back]);
    if ((byte & 0xC0) == 0x80)
      continue;  // continuation byte: keep looking for the lead byte
    size_t length = 1;
    if ((byte & 0xE0) == 0xC0)
      length = 2;
    else if ((byte & 0xF0) == 0xE0)
      length = 3;
    else if ((byte & 0xF8) == 0xF0)
      length = 4;
    return length > back ? text.size() - back : text.size();
  }
  return text.size();
}

} // namespace

stop_matcher::stop_matcher(std::vector<std::string> stops) {
  for (auto& stop : stops) {
    if (stop.empty())
      continue;
    longest_ = std::max(longest_, stop.size());
    stops_.push_back(std::move(stop));
  }
}

stop_result stop_matcher::push(std::string_view text) {
  stop_result result;
  if (stopped_) {
    result.stopped = true;
    return result;
  }
  held_ += text;
  // Earliest end wins; among equal ends the earliest start (the longest stop string).
  auto best_end = std::string::npos;
  auto best_start = std::string::npos;
  size_t best = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    auto pos = held_.find(stops_[i]);
    if (pos == std::string::npos)
      continue;
    auto end = pos + stops_[i].size();
    if (end < best_end || (end == best_end && pos < best_start)) {
      best_end = end;
      best_start = pos;
      best = i;
    }
  }
  if (best_start != std::string::npos) {
    stopped_ = true;
    matched_ = stops_[best];
    result.stopped = true;
    result.emit = held_.substr(0, best_start);
    held_.clear();
    return result;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  auto cut = held_.size();
  auto first_candidate = held_.size() - std::min(held_.size(), longest_ > 0 ? longest_ - 1 : 0);
  for (auto pos = first_candidate; pos < held_.size(); ++pos) {
    std::string_view suffix{held_.data() + pos, held_.size() - pos};
    auto is_prefix = [&suffix](const std::string& stop) { return stop.starts_with(suffix); };
    if (std::any_of(stops_.begin(), stops_.end(), is_prefix)) {
      cut = pos;
      break;
    }
  }
  cut = std::min(cut, incomplete_utf8_tail(held_));
  result.emit = held_.substr(0, cut);
  held_.erase(0, cut);
  return result;
}

std::string stop_matcher::flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

} // namespace dynamo::openai
