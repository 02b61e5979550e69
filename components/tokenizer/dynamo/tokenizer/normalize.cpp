#include "dynamo/tokenizer/normalize.hpp"

#include "dynamo/tokenizer/hf_json.hpp"

#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "normalizer";

caf::error parse_into(const nlohmann::json& node, std::vector<normalizer::step>& steps, int depth = 0) {
  if (node.is_null())
    return {};
  if (depth > max_nesting)
    return malformed(component, "Sequence nested too deeply");
  auto type = type_of(node, component);
  if (!type)
    return std::move(type.error());
  if (*type == "Sequence") {
    auto list = node.find("normalizers");
    if (list == node.end() || !list->is_array())
      return malformed(component, "Sequence needs a \"normalizers\" array");
    for (const auto& child : *list)
      if (auto err = parse_into(child, steps, depth + 1))
        return err;
    return {};
  }
  if (*type == "NFC")
    steps.emplace_back(normal_form::nfc);
  else if (*type == "NFD")
    steps.emplace_back(normal_form::nfd);
  else if (*type == "NFKC")
    steps.emplace_back(normal_form::nfkc);
  else if (*type == "NFKD")
    steps.emplace_back(normal_form::nfkd);
  else if (*type == "Prepend")
    steps.emplace_back(normalizer::prepend{node.at("prepend").get<std::string>()});
  else if (*type == "Replace") {
    auto pattern = pattern_of(node, "pattern", component);
    if (!pattern)
      return std::move(pattern.error());
    normalizer::replace step{{}, std::nullopt, node.at("content").get<std::string>()};
    if (pattern->regex) {
      auto compiled = regex::compile(pattern->text);
      if (!compiled)
        return std::move(compiled.error());
      step.pattern = std::move(*compiled);
    } else if (pattern->text.empty()) {
      return malformed(component, "Replace with an empty pattern");
    } else {
      step.literal = std::move(pattern->text);
    }
    steps.emplace_back(std::move(step));
  } else {
    return unsupported_type(component, *type);
  }
  return {};
}

std::string apply_step(const normalizer::step& s, std::string text) {
  if (const auto* form = std::get_if<normal_form>(&s))
    return to_normal_form(text, *form);
  if (const auto* p = std::get_if<normalizer::prepend>(&s))
    return text.empty() ? text : p->prefix + text;
  const auto& r = std::get<normalizer::replace>(s);
  std::string out;
  if (!r.pattern) {
    replace_all(text, r.literal, r.content, out);
    return out;
  }
  size_t prev = 0;
  for (auto [start, end] : r.pattern->find_all(text)) {
    out.append(text, prev, start - prev);
    out += r.content;
    prev = end;
  }
  out.append(text, prev);
  return out;
}

} // namespace

caf::expected<normalizer> normalizer::from_json(const nlohmann::json& node) {
  std::vector<step> steps;
  if (auto err = parse_into(node, steps))
    return err;
  return normalizer{std::move(steps)};
}

std::string normalizer::apply(std::string_view text) const {
  std::string out{text};
  for (const auto& s : steps_)
    out = apply_step(s, std::move(out));
  return out;
}

} // namespace dynamo::tokenizer
