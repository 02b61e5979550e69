#include "dynamo/tokenizer/hf_decoders.hpp"

#include "dynamo/tokenizer/byte_level.hpp"
#include "dynamo/tokenizer/hf_json.hpp"
#include "dynamo/tokenizer/unicode.hpp"
#include "dynamo/tokenizer/utf8.hpp"

#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "decoder";

caf::expected<char32_t> single_char(const std::string& text, std::string_view what) {
  if (text.empty() || !is_valid_utf8(text) || next_char(text, 0).size != text.size())
    return malformed(component, std::string{what} + " must be exactly one character");
  return next_char(text, 0).code_point;
}

caf::error parse_leaf(const nlohmann::json& node, const std::string& type,
                      std::vector<hf_decoder::step>& steps) {
  if (type == "ByteLevel") {
    steps.emplace_back(hf_decoder::byte_level{});
  } else if (type == "ByteFallback") {
    steps.emplace_back(hf_decoder::byte_fallback{});
  } else if (type == "Fuse") {
    steps.emplace_back(hf_decoder::fuse{});
  } else if (type == "Metaspace") {
    auto replacement = single_char(string_or(node, "replacement", "\xE2\x96\x81"), "replacement");
    if (!replacement)
      return std::move(replacement.error());
    bool strip_first = bool_or(node, "add_prefix_space", true);
    if (auto scheme = node.find("prepend_scheme"); scheme != node.end() && !scheme->is_null())
      strip_first = scheme->get<std::string>() != "never";
    steps.emplace_back(hf_decoder::metaspace{*replacement, strip_first});
  } else if (type == "Replace") {
    auto rule = parse_replace_rule(node, component);
    if (!rule)
      return std::move(rule.error());
    steps.emplace_back(std::move(*rule));
  } else if (type == "Strip") {
    auto content = single_char(node.at("content").get<std::string>(), "Strip content");
    if (!content)
      return std::move(content.error());
    steps.emplace_back(hf_decoder::strip{*content, node.at("start").get<size_t>(),
                                         node.at("stop").get<size_t>()});
  } else {
    return unsupported_type(component, type);
  }
  return {};
}

using tokens_t = std::vector<std::string>;

tokens_t run(const hf_decoder::byte_level&, tokens_t tokens) {
  std::string bytes;
  for (const auto& t : tokens)
    if (!append_bytes_of(t, bytes))
      bytes += t;
  return {sanitize_utf8(bytes)};
}

tokens_t run(const hf_decoder::metaspace& m, tokens_t tokens) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string out;
    const auto& t = tokens[i];
    for (size_t pos = 0; pos < t.size();) {
      auto ch = next_char(t, pos);
      if (ch.code_point == m.replacement) {
        if (!(i == 0 && m.strip_first))
          out.push_back(' ');
      } else {
        out.append(t, pos, ch.size);
      }
      pos += ch.size;
    }
    tokens[i] = std::move(out);
  }
  return tokens;
}

tokens_t run(const hf_decoder::replace& r, tokens_t tokens) {
  for (auto& t : tokens)
    t = r.apply(t);
  return tokens;
}

/// The byte a "<0xNN>" token stands for.
std::optional<uint8_t> fallback_byte(std::string_view t) noexcept {
  if (t.size() != 6 || !t.starts_with("<0x") || t.back() != '>')
    return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  int hi = hex(t[3]);
  int lo = hex(t[4]);
  if (hi < 0 || lo < 0)
    return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

tokens_t run(const hf_decoder::byte_fallback&, tokens_t tokens) {
  tokens_t out;
  std::string bytes;
  auto flush = [&] {
    if (bytes.empty())
      return;
    if (is_valid_utf8(bytes))
      out.push_back(bytes);
    else
      for (size_t i = 0; i < bytes.size(); ++i)
        out.emplace_back(replacement_character);
    bytes.clear();
  };
  for (auto& t : tokens) {
    if (auto b = fallback_byte(t)) {
      bytes.push_back(static_cast<char>(*b));
      continue;
    }
    flush();
    out.push_back(std::move(t));
  }
  flush();
  return out;
}

tokens_t run(const hf_decoder::fuse&, tokens_t tokens) {
  std::string all;
  for (const auto& t : tokens)
    all += t;
  return {std::move(all)};
}

tokens_t run(const hf_decoder::strip& s, tokens_t tokens) {
  for (auto& t : tokens) {
    std::vector<std::pair<size_t, size_t>> chars;  // (offset, size)
    for (size_t pos = 0; pos < t.size();) {
      auto ch = next_char(t, pos);
      chars.emplace_back(pos, ch.size);
      pos += ch.size;
    }
    auto is_content = [&](size_t i) {
      return next_char(t, chars[i].first).code_point == s.content;
    };
    size_t first = 0;
    while (first < s.start && first < chars.size() && is_content(first))
      ++first;
    size_t last = chars.size();
    for (size_t n = 0; n < s.stop && last > first && is_content(last - 1); ++n)
      --last;
    size_t from = first < chars.size() ? chars[first].first : t.size();
    size_t to = last < chars.size() ? chars[last].first : t.size();
    t = t.substr(from, to - from);
  }
  return tokens;
}

} // namespace

caf::expected<hf_decoder> hf_decoder::from_json(const nlohmann::json& node) {
  std::vector<step> steps;
  auto leaf = [&steps](const nlohmann::json& child, const std::string& type) {
    return parse_leaf(child, type, steps);
  };
  if (auto err = walk_sequence(node, component, "decoders", leaf))
    return err;
  return hf_decoder{std::move(steps)};
}

std::string hf_decoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  if (steps_.empty()) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0)
        out.push_back(' ');
      out += tokens[i];
    }
    return sanitize_utf8(out);
  }
  for (const auto& s : steps_)
    tokens = std::visit([&](const auto& step) { return run(step, std::move(tokens)); }, s);
  for (const auto& t : tokens)
    out += t;
  return sanitize_utf8(out);
}

} // namespace dynamo::tokenizer
