#include "dynamo/tokenizer/normalize.hpp"

#include "dynamo/tokenizer/hf_json.hpp"

#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "normalizer";

caf::error parse_leaf(const nlohmann::json& node, const std::string& type,
                      std::vector<normalizer::step>& steps) {
  if (type == "NFC")
    steps.emplace_back(normal_form::nfc);
  else if (type == "NFD")
    steps.emplace_back(normal_form::nfd);
  else if (type == "NFKC")
    steps.emplace_back(normal_form::nfkc);
  else if (type == "NFKD")
    steps.emplace_back(normal_form::nfkd);
  else if (type == "Prepend")
    steps.emplace_back(normalizer::prepend{node.at("prepend").get<std::string>()});
  else if (type == "Replace") {
    auto rule = parse_replace_rule(node, component);
    if (!rule)
      return std::move(rule.error());
    steps.emplace_back(std::move(*rule));
  } else {
    return unsupported_type(component, type);
  }
  return {};
}

std::string apply_step(const normalizer::step& s, std::string text) {
  if (const auto* form = std::get_if<normal_form>(&s))
    return to_normal_form(text, *form);
  if (const auto* p = std::get_if<normalizer::prepend>(&s))
    return text.empty() ? text : p->prefix + text;
  return std::get<normalizer::replace>(s).apply(text);
}

} // namespace

caf::expected<normalizer> normalizer::from_json(const nlohmann::json& node) {
  std::vector<step> steps;
  auto leaf = [&steps](const nlohmann::json& child, const std::string& type) {
    return parse_leaf(child, type, steps);
  };
  if (auto err = walk_sequence(node, component, "normalizers", leaf))
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
