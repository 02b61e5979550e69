#include "dynamo/tokenizer/replace_rule.hpp"

#include "dynamo/tokenizer/hf_json.hpp"
#include "dynamo/tokenizer/unicode.hpp"

#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {

std::string replace_rule::apply(std::string_view text) const {
  std::string out;
  if (!pattern) {
    replace_all(text, literal, content, out);
    return out;
  }
  size_t prev = 0;
  for (auto [start, end] : pattern->find_all(text)) {
    out.append(text, prev, start - prev);
    out += content;
    prev = end;
  }
  out.append(text, prev);
  return out;
}

caf::expected<replace_rule> parse_replace_rule(const nlohmann::json& node,
                                               std::string_view component) {
  auto pattern = pattern_of(node, "pattern", component);
  if (!pattern)
    return std::move(pattern.error());
  replace_rule rule{{}, std::nullopt, node.at("content").get<std::string>()};
  if (pattern->regex) {
    auto compiled = regex::compile(pattern->text);
    if (!compiled)
      return std::move(compiled.error());
    rule.pattern = std::move(*compiled);
  } else if (pattern->text.empty()) {
    return malformed(component, "Replace with an empty pattern");
  } else {
    rule.literal = std::move(pattern->text);
  }
  return rule;
}

} // namespace dynamo::tokenizer
