// The graph DSL: components with configuration and replica counts, connected by typed edges.
// connect(a, b) compiles only when b provides an interface that a requires.
#pragma once

#include "dynamo/component.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dynamo {

/// A handle to a component node of a graph; typed by the component so edges can be checked.
template <class Component>
class node {
public:
  /// The node's (and component's) name.
  const std::string& name() const noexcept { return name_; }
  /// Index of the node in its graph.
  size_t index() const noexcept { return index_; }

private:
  friend class graph;
  node(std::string name, size_t index) : name_(std::move(name)), index_(index) {}
  std::string name_;
  size_t index_;
};

/// Type-erased description of one node, used by the runner.
struct node_spec {
  std::string name;
  std::string kind;
  size_t replicas = 1;
  std::vector<edge_target> targets;
  /// Registers the node's options (config fields and "<name>.replicas") under "<name>.".
  std::function<void(option_set&)> bind;
  /// Spawns one replica.
  std::function<caf::actor(component_context&)> spawn;
};

/// A graph of components. Build it in main(), then hand it to dynamo::run() or a graph_runner.
class graph {
public:
  /// Creates an empty graph called `name` (used in logs and --help).
  explicit graph(std::string name);

  /// Adds component `C` named `name` (a valid id name, unique in the graph) with `cfg` and
  /// `replicas` copies. The config and replica count can be overridden by flags
  /// "--<name>.<key>" / "--<name>.replicas". Aborts on a duplicate or invalid name (a
  /// programming error in the graph declaration).
  template <component_type C>
  node<C> add(std::string name, typename C::config cfg = {}, size_t replicas = 1) {
    auto state = std::make_shared<node_state<C>>(std::move(cfg), replicas);
    node_spec spec;
    spec.name = name;
    spec.kind = std::string{C::kind};
    spec.replicas = replicas;
    spec.bind = [state, name](option_set& opts) { state->bind(opts, name); };
    spec.spawn = [state](component_context& ctx) -> caf::actor { return C::spawn(ctx, state->cfg); };
    auto index = add_spec(std::move(spec), [state] { return state->replicas; });
    return node<C>{std::move(name), index};
  }

  /// Connects `from` to `to` through the interface they share (the first of From's required
  /// interfaces that To provides). Does not compile if they share none.
  template <class From, class To>
    requires connectable<From, To>
  void connect(const node<From>& from, const node<To>& to) {
    connect_first<From, To>(from, to, typename From::requires_{});
  }

  /// Connects `from` to `to` through a named interface both sides agree on.
  template <class Interface, class From, class To>
    requires connectable_via<From, To, Interface>
  void connect_via(const node<From>& from, const node<To>& to) {
    add_edge(from.index(), to.index(), Interface::name);
  }

  /// The graph's name.
  const std::string& name() const noexcept { return name_; }

  /// Node descriptions with their edges resolved (replica counts reflect parsed flags).
  std::vector<node_spec> nodes() const;

private:
  template <class C>
  struct node_state {
    node_state(typename C::config c, size_t r) : cfg(std::move(c)), replicas(r) {}
    void bind(option_set& opts, const std::string& prefix);
    typename C::config cfg;
    size_t replicas;
  };

  template <class From, class To, class R, class... Rs>
  void connect_first(const node<From>& from, const node<To>& to, interfaces<R, Rs...>) {
    if constexpr (detail::list_contains<R, typename To::provides>::value)
      add_edge(from.index(), to.index(), R::name);
    else
      connect_first<From, To>(from, to, interfaces<Rs...>{});
  }

  template <class From, class To>
  void connect_first(const node<From>&, const node<To>&, interfaces<>) {
  }

  size_t add_spec(node_spec spec, std::function<size_t()> replicas);
  void add_edge(size_t from, size_t to, std::string interface);

  std::string name_;
  std::vector<node_spec> specs_;
  std::vector<std::function<size_t()>> replica_counts_;
};

/// Registers "<prefix>.replicas" and the component's own config under "<prefix>.".
void bind_replicas(option_set& opts, const std::string& prefix, size_t& replicas);

template <class C>
void graph::node_state<C>::bind(option_set& opts, const std::string& prefix) {
  bind_replicas(opts, prefix, replicas);
  cfg.bind(opts, prefix);
}

} // namespace dynamo
