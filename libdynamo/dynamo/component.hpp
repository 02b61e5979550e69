// What a component type must provide to be placed in a graph, and what it gets when spawned.
#pragma once

#include "dynamo/ids.hpp"
#include "dynamo/log.hpp"

#include <caf/actor.hpp>

#include <concepts>
#include <string>
#include <type_traits>
#include <vector>

namespace dynamo {

class option_set;
class runtime;

/// A list of interface tags (types with a `handle_type` and a `name` endpoint string).
template <class... Interfaces>
struct interfaces {};

/// One outgoing edge as seen by the source component: which component to reach, through which
/// endpoint (the interface tag's name), for which required interface.
struct edge_target {
  std::string component;  ///< Target component name (its replicas are discovered at runtime).
  std::string endpoint;   ///< Endpoint name on the target ("generate").
  std::string interface;  ///< Interface tag name, e.g. "generate".
};

/// Everything a component replica receives at spawn time. Borrowed from the runner; valid for
/// the lifetime of the runtime.
struct component_context {
  runtime* rt = nullptr;              ///< The hosting runtime (planes, metrics, actor system).
  std::string name;                   ///< Component name within the namespace.
  instance_id instance;               ///< This replica's unique id.
  size_t replica = 0;                 ///< Replica index, 0-based.
  logger_ptr log;                     ///< Logger named "<name>/<instance>".
  std::vector<edge_target> targets;   ///< Outgoing edges of this component's node.

  /// This component's id (runtime namespace + name).
  component_id id() const;

  /// The endpoint `endpoint` of this replica.
  instance_endpoint address(std::string endpoint) const;

  /// Target component names reached through interface `Interface`.
  template <class Interface>
  std::vector<std::string> targets_for() const {
    std::vector<std::string> result;
    for (const auto& t : targets)
      if (t.interface == Interface::name)
        result.push_back(t.component);
    return result;
  }
};

/// A component type: a config with bind(), lists of provided and required interfaces, a kind
/// name, and a spawn function returning an actor that answers drain (lifecycle_actor).
template <class C>
concept component_type = requires(typename C::config& cfg, option_set& opts,
                                  const std::string& prefix, component_context& ctx) {
  typename C::provides;
  typename C::requires_;
  { C::kind } -> std::convertible_to<std::string_view>;
  { cfg.bind(opts, prefix) };
  { C::spawn(ctx, cfg) } -> std::convertible_to<caf::actor>;
};

namespace detail {

template <class T, class List>
struct list_contains : std::false_type {};

template <class T, class... Ts>
struct list_contains<T, interfaces<Ts...>> : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};

template <class Required, class Provided>
struct any_shared : std::false_type {};

template <class... Rs, class Provided>
struct any_shared<interfaces<Rs...>, Provided>
  : std::bool_constant<(list_contains<Rs, Provided>::value || ...)> {};

} // namespace detail

/// True when `To` provides at least one interface that `From` requires: the edge From -> To is
/// well-typed.
template <class From, class To>
concept connectable
  = detail::any_shared<typename From::requires_, typename To::provides>::value;

/// True when `To` provides `Interface` and `From` requires it.
template <class From, class To, class Interface>
concept connectable_via = detail::list_contains<Interface, typename From::requires_>::value
                          && detail::list_contains<Interface, typename To::provides>::value;

} // namespace dynamo
