#include "dynamo/plane/event.hpp"

namespace dynamo {

event_publisher::~event_publisher() = default;

event_plane::~event_plane() = default;

namespace {

bool is_token_char(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f && c != '.';
}

// Splits off the first '.'-separated token of `rest`; `rest` becomes the remainder and an
// empty view with `done` set once the last token was taken.
std::string_view next_token(std::string_view& rest, bool& done) noexcept {
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) {
    auto token = rest;
    rest = {};
    done = true;
    return token;
  }
  auto token = rest.substr(0, dot);
  rest.remove_prefix(dot + 1);
  return token;
}

// Checks the token structure; `wildcards` allows '*' tokens and a final '>' token.
bool is_valid(std::string_view text, bool wildcards) noexcept {
  if (text.empty())
    return false;
  bool done = false;
  while (!done) {
    auto token = next_token(text, done);
    if (token.empty())
      return false;
    if (wildcards && token == "*")
      continue;
    if (wildcards && token == ">") {
      if (!done)
        return false;
      continue;
    }
    for (char c : token)
      if (!is_token_char(c) || c == '*' || c == '>')
        return false;
  }
  return true;
}

} // namespace

bool is_valid_subject(std::string_view subject) noexcept {
  return is_valid(subject, false);
}

bool is_valid_pattern(std::string_view pattern) noexcept {
  return is_valid(pattern, true);
}

bool subject_matches(std::string_view pattern, std::string_view subject) {
  if (!is_valid_pattern(pattern) || !is_valid_subject(subject))
    return false;
  bool pattern_done = false;
  bool subject_done = false;
  while (!pattern_done) {
    if (subject_done)
      return false;
    auto p = next_token(pattern, pattern_done);
    auto s = next_token(subject, subject_done);
    if (p == ">")
      return true;
    if (p != "*" && p != s)
      return false;
  }
  return subject_done;
}

std::optional<sequence_tracker::gap> sequence_tracker::observe(const event_message& m) {
  auto it = last_.find(m.publisher);
  if (it == last_.end())
    it = last_.emplace(m.publisher, 0).first;
  auto& last = it->second;
  if (m.sequence <= last) {
    ++duplicates_;
    return std::nullopt;
  }
  std::optional<gap> result;
  if (m.sequence > last + 1) {
    result = gap{m.publisher, last + 1, m.sequence - 1};
    missing_ += m.sequence - 1 - last;
  }
  last = m.sequence;
  return result;
}

uint64_t sequence_tracker::duplicates() const {
  return duplicates_;
}

uint64_t sequence_tracker::missing() const {
  return missing_;
}

uint64_t sequence_tracker::last_sequence(std::string_view publisher) const {
  auto it = last_.find(publisher);
  return it == last_.end() ? 0 : it->second;
}

void sequence_tracker::forget(std::string_view publisher) {
  if (auto it = last_.find(publisher); it != last_.end())
    last_.erase(it);
}

} // namespace dynamo
