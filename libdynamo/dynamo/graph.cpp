#include "dynamo/graph.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/runtime.hpp"

#include <fmt/format.h>

namespace dynamo {

component_id component_context::id() const {
  return component_id{rt->ns(), name};
}

instance_endpoint component_context::address(std::string endpoint) const {
  return instance_endpoint{endpoint_id{rt->ns(), name, std::move(endpoint)}, instance};
}

graph::graph(std::string name) : name_(std::move(name)) {
}

size_t graph::add_spec(node_spec spec, std::function<size_t()> replicas) {
  if (!is_valid_name(spec.name))
    on_internal_error(fmt::format("graph '{}': invalid component name '{}'", name_, spec.name));
  for (const auto& existing : specs_)
    if (existing.name == spec.name)
      on_internal_error(fmt::format("graph '{}': duplicate component '{}'", name_, spec.name));
  specs_.push_back(std::move(spec));
  replica_counts_.push_back(std::move(replicas));
  return specs_.size() - 1;
}

void graph::add_edge(size_t from, size_t to, std::string interface) {
  auto& source = specs_.at(from);
  const auto& target = specs_.at(to);
  for (const auto& t : source.targets)
    if (t.component == target.name && t.interface == interface)
      return;
  source.targets.push_back(edge_target{target.name, interface, std::move(interface)});
}

std::vector<node_spec> graph::nodes() const {
  auto result = specs_;
  for (size_t i = 0; i < result.size(); ++i)
    result[i].replicas = replica_counts_[i]();
  return result;
}

void bind_replicas(option_set& opts, const std::string& prefix, size_t& replicas) {
  opts.add(replicas, prefix + ".replicas", "number of replicas of this component");
}

} // namespace dynamo
