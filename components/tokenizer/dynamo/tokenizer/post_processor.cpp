#include "dynamo/tokenizer/post_processor.hpp"

#include "dynamo/tokenizer/hf_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dynamo::tokenizer {

namespace {

constexpr std::string_view component = "post_processor";

caf::expected<std::vector<token_id>> template_prefix(const nlohmann::json& node) {
  auto single = node.find("single");
  if (single == node.end() || !single->is_array())
    return malformed(component, "TemplateProcessing needs a \"single\" array");
  auto specials = node.find("special_tokens");
  std::vector<token_id> prefix;
  for (const auto& piece : *single) {
    if (piece.contains("Sequence"))
      return prefix;
    auto special = piece.find("SpecialToken");
    if (special == piece.end())
      return malformed(component, "template pieces must be SpecialToken or Sequence");
    auto name = special->at("id").get<std::string>();
    if (specials == node.end() || !specials->contains(name))
      return malformed(component, fmt::format("template uses undeclared token '{}'", name));
    for (const auto& id : specials->at(name).at("ids")) {
      auto checked = token_id_of(id, component);
      if (!checked)
        return std::move(checked.error());
      prefix.push_back(*checked);
    }
  }
  return malformed(component, "the single template has no $A sequence");
}

caf::expected<std::vector<token_id>> prefix_of(const nlohmann::json& node, int depth) {
  if (node.is_null())
    return std::vector<token_id>{};
  if (depth > max_nesting)
    return malformed(component, "Sequence nested too deeply");
  auto type = type_of(node, component);
  if (!type)
    return std::move(type.error());
  if (*type == "ByteLevel")
    return std::vector<token_id>{};
  if (*type == "TemplateProcessing")
    return template_prefix(node);
  if (*type == "RobertaProcessing" || *type == "BertProcessing") {
    auto cls = token_id_of(node.at("cls").at(1), component);
    if (!cls)
      return std::move(cls.error());
    return std::vector<token_id>{*cls};
  }
  if (*type == "Sequence") {
    auto list = node.find("processors");
    if (list == node.end() || !list->is_array())
      return malformed(component, "Sequence needs a \"processors\" array");
    std::vector<token_id> prefix;
    for (const auto& child : *list) {
      auto inner = prefix_of(child, depth + 1);
      if (!inner)
        return inner;
      // A later processor wraps the output of the earlier ones.
      inner->insert(inner->end(), prefix.begin(), prefix.end());
      prefix = std::move(*inner);
    }
    return prefix;
  }
  return unsupported_type(component, *type);
}

} // namespace

caf::expected<std::vector<token_id>> prompt_prefix_from_json(const nlohmann::json& node) {
  return prefix_of(node, 0);
}

} // namespace dynamo::tokenizer
