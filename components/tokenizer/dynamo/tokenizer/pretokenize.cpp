#include "dynamo/tokenizer/pretokenize.hpp"

#include "dynamo/tokenizer/byte_level.hpp"
#include "dynamo/tokenizer/hf_json.hpp"
#include "dynamo/tokenizer/unicode.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "pre_tokenizer";

std::vector<text_span> regex_spans(const regex& pattern, std::string_view text) {
  std::vector<text_span> spans;
  size_t prev = 0;
  for (auto [start, end] : pattern.find_all(text)) {
    if (start > prev)
      spans.push_back({prev, start, false});
    spans.push_back({start, end, true});
    prev = end;
  }
  if (prev < text.size())
    spans.push_back({prev, text.size(), false});
  return spans;
}

/// Each character for which `pred` holds is a match of its own.
template <class Predicate>
std::vector<text_span> char_spans(std::string_view text, Predicate pred) {
  std::vector<text_span> spans;
  size_t pos = 0;
  size_t plain_start = 0;
  while (pos < text.size()) {
    auto ch = next_char(text, pos);
    if (pred(ch.code_point)) {
      if (pos > plain_start)
        spans.push_back({plain_start, pos, false});
      spans.push_back({pos, pos + ch.size, true});
      plain_start = pos + ch.size;
    }
    pos += ch.size;
  }
  if (plain_start < text.size())
    spans.push_back({plain_start, text.size(), false});
  return spans;
}

caf::expected<split_behavior> parse_behavior(const std::string& name) {
  if (name == "Removed")
    return split_behavior::removed;
  if (name == "Isolated")
    return split_behavior::isolated;
  if (name == "MergedWithPrevious")
    return split_behavior::merged_with_previous;
  if (name == "MergedWithNext")
    return split_behavior::merged_with_next;
  if (name == "Contiguous")
    return split_behavior::contiguous;
  return malformed(component, "unknown Split behavior '" + name + "'");
}

caf::expected<pre_tokenizer::prepend_scheme> parse_scheme(const nlohmann::json& node) {
  using scheme = pre_tokenizer::prepend_scheme;
  if (auto i = node.find("prepend_scheme"); i != node.end() && !i->is_null()) {
    auto name = i->get<std::string>();
    if (name == "always")
      return scheme::always;
    if (name == "first")
      return scheme::first;
    if (name == "never")
      return scheme::never;
    return malformed(component, "unknown Metaspace prepend_scheme '" + name + "'");
  }
  // Files older than tokenizers 0.15 carry add_prefix_space instead.
  return bool_or(node, "add_prefix_space", true) ? scheme::always : scheme::never;
}

caf::error parse_leaf(const nlohmann::json& node, const std::string& type,
                      std::vector<pre_tokenizer::step>& steps) {
  if (type == "ByteLevel") {
    pre_tokenizer::byte_level step;
    step.add_prefix_space = bool_or(node, "add_prefix_space", true);
    if (bool_or(node, "use_regex", true)) {
      auto compiled = regex::compile(gpt2_split_pattern);
      if (!compiled)
        return std::move(compiled.error());
      step.split = std::move(*compiled);
    }
    steps.emplace_back(std::move(step));
  } else if (type == "Split") {
    auto pattern = pattern_of(node, "pattern", component);
    if (!pattern)
      return std::move(pattern.error());
    auto compiled = pattern->regex ? regex::compile(pattern->text) : regex::literal(pattern->text);
    if (!compiled)
      return std::move(compiled.error());
    auto behavior = parse_behavior(node.at("behavior").get<std::string>());
    if (!behavior)
      return std::move(behavior.error());
    steps.emplace_back(
      pre_tokenizer::split{std::move(*compiled), *behavior, bool_or(node, "invert", false)});
  } else if (type == "Digits") {
    steps.emplace_back(pre_tokenizer::digits{bool_or(node, "individual_digits", false)});
  } else if (type == "Metaspace") {
    auto scheme = parse_scheme(node);
    if (!scheme)
      return std::move(scheme.error());
    auto replacement = string_or(node, "replacement", "\xE2\x96\x81");
    if (replacement.empty())
      return malformed(component, "Metaspace replacement must not be empty");
    steps.emplace_back(
      pre_tokenizer::metaspace{std::move(replacement), *scheme, bool_or(node, "split", true)});
  } else {
    return unsupported_type(component, type);
  }
  return {};
}

void apply_step(const pre_tokenizer::byte_level& s, const text_piece& in,
                std::vector<text_piece>& out) {
  text_piece piece = in;
  if (s.add_prefix_space && !piece.text.empty() && piece.text.front() != ' ')
    piece.text.insert(piece.text.begin(), ' ');
  auto first = out.size();
  if (s.split)
    split_piece(piece, regex_spans(*s.split, piece.text), split_behavior::isolated, out);
  else if (!piece.text.empty())
    out.push_back(std::move(piece));
  for (auto i = first; i < out.size(); ++i) {
    std::string mapped;
    append_byte_level(out[i].text, mapped);
    out[i].text = std::move(mapped);
  }
}

void apply_step(const pre_tokenizer::split& s, const text_piece& in,
                std::vector<text_piece>& out) {
  auto spans = regex_spans(s.pattern, in.text);
  if (s.invert)
    for (auto& span : spans)
      span.is_match = !span.is_match;
  split_piece(in, spans, s.behavior, out);
}

void apply_step(const pre_tokenizer::digits& s, const text_piece& in,
                std::vector<text_piece>& out) {
  split_piece(in, char_spans(in.text, is_numeric),
              s.individual ? split_behavior::isolated : split_behavior::contiguous, out);
}

void apply_step(const pre_tokenizer::metaspace& s, const text_piece& in,
                std::vector<text_piece>& out) {
  text_piece piece{{}, in.at_start};
  replace_all(in.text, " ", s.replacement, piece.text);
  bool prepend = s.scheme == pre_tokenizer::prepend_scheme::always
                 || (s.scheme == pre_tokenizer::prepend_scheme::first && in.at_start);
  if (prepend && !piece.text.empty() && !piece.text.starts_with(s.replacement))
    piece.text.insert(0, s.replacement);
  if (!s.split) {
    if (!piece.text.empty())
      out.push_back(std::move(piece));
    return;
  }
  std::vector<text_span> spans;
  std::string_view text{piece.text};
  size_t prev = 0;
  for (auto hit = text.find(s.replacement); hit != std::string_view::npos;
       hit = text.find(s.replacement, hit + s.replacement.size())) {
    if (hit > prev)
      spans.push_back({prev, hit, false});
    spans.push_back({hit, hit + s.replacement.size(), true});
    prev = hit + s.replacement.size();
  }
  if (prev < text.size())
    spans.push_back({prev, text.size(), false});
  split_piece(piece, spans, split_behavior::merged_with_next, out);
}

} // namespace

void split_piece(const text_piece& piece, const std::vector<text_span>& spans,
                 split_behavior behavior, std::vector<text_piece>& out) {
  // Merge spans per behavior into [start, end) ranges to keep, as HF's NormalizedString::split.
  std::vector<text_span> ranges;
  switch (behavior) {
    case split_behavior::isolated:
      ranges = spans;
      break;
    case split_behavior::removed:
      std::copy_if(spans.begin(), spans.end(), std::back_inserter(ranges),
                   [](const text_span& s) { return !s.is_match; });
      break;
    case split_behavior::merged_with_previous: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !ranges.empty())
          ranges.back().end = s.end;
        else
          ranges.push_back(s);
        previous_match = s.is_match;
      }
      break;
    }
    case split_behavior::merged_with_next: {
      bool previous_match = false;
      for (auto i = spans.rbegin(); i != spans.rend(); ++i) {
        if (i->is_match && !previous_match && !ranges.empty())
          ranges.back().start = i->start;
        else
          ranges.push_back(*i);
        previous_match = i->is_match;
      }
      std::reverse(ranges.begin(), ranges.end());
      break;
    }
    case split_behavior::contiguous: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match == previous_match && !ranges.empty())
          ranges.back().end = s.end;
        else
          ranges.push_back(s);
        previous_match = s.is_match;
      }
      break;
    }
  }
  for (const auto& r : ranges) {
    if (r.end <= r.start)
      continue;
    out.push_back({piece.text.substr(r.start, r.end - r.start), piece.at_start && r.start == 0});
  }
}

caf::expected<pre_tokenizer> pre_tokenizer::from_json(const nlohmann::json& node) {
  std::vector<step> steps;
  auto leaf = [&steps](const nlohmann::json& child, const std::string& type) {
    return parse_leaf(child, type, steps);
  };
  if (auto err = walk_sequence(node, component, "pretokenizers", leaf))
    return err;
  return pre_tokenizer{std::move(steps)};
}

void pre_tokenizer::apply(std::vector<text_piece>& pieces) const {
  std::vector<text_piece> next;
  for (const auto& s : steps_) {
    next.clear();
    next.reserve(pieces.size());
    for (const auto& piece : pieces)
      std::visit([&](const auto& step) { apply_step(step, piece, next); }, s);
    pieces.swap(next);
  }
}

} // namespace dynamo::tokenizer
