#include "dynamo/runner.hpp"

#include "dynamo/error.hpp"
#include "dynamo/runtime.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace dynamo {

graph_runner::graph_runner(runtime& rt, const graph& g)
  : rt_(rt), graph_name_(g.name()), nodes_(g.nodes()) {
}

graph_runner::~graph_runner() {
  stop();
}

caf::error graph_runner::start(const std::vector<std::string>& only) {
  auto log = rt_.logger("runner", graph_name_);
  std::vector<bool> selected(nodes_.size(), only.empty());
  for (const auto& name : only) {
    auto i = std::find_if(nodes_.begin(), nodes_.end(),
                          [&name](const node_spec& n) { return n.name == name; });
    if (i == nodes_.end()) {
      std::string known;
      for (const auto& n : nodes_)
        known += (known.empty() ? "" : ", ") + n.name;
      return make_error(errc::invalid_request,
                        fmt::format("graph '{}' has no component '{}' (it has: {})", graph_name_,
                                    name, known));
    }
    selected[static_cast<size_t>(i - nodes_.begin())] = true;
  }
  for (size_t index = 0; index < nodes_.size(); ++index) {
    if (!selected[index])
      continue;
    const auto& node = nodes_[index];
    for (const auto& target : node.targets) {
      auto i = std::find_if(nodes_.begin(), nodes_.end(),
                            [&target](const node_spec& n) { return n.name == target.component; });
      if (i == nodes_.end() || i->replicas == 0)
        return make_error(errc::invalid_request,
                          fmt::format("component '{}' sends to '{}', which has no replicas",
                                      node.name, target.component));
    }
  }
  // Spawn sinks first so that sources find their targets already registered.
  auto order = drain_order(nodes_);
  std::reverse(order.begin(), order.end());
  for (auto index : order) {
    if (!selected[index])
      continue;
    const auto& node = nodes_[index];
    for (size_t replica = 0; replica < node.replicas; ++replica) {
      component_context ctx;
      ctx.rt = &rt_;
      ctx.name = node.name;
      ctx.instance = rt_.next_instance_id();
      ctx.replica = replica;
      ctx.log = rt_.logger(node.name, ctx.instance.to_string());
      ctx.targets = node.targets;
      auto hdl = node.spawn(ctx);
      if (!hdl)
        return make_error(errc::internal, "a component failed to start",
                          fmt::format("spawn of {} replica {} returned no actor", node.name, replica));
      log->info("started {} ({}) instance {} replica {}", node.name, node.kind,
                ctx.instance.to_string(), replica);
      instances_.push_back(running_instance{node.name, ctx.instance, hdl});
      instance_node_.push_back(index);
    }
  }
  return caf::none;
}

std::vector<size_t> drain_order(const std::vector<node_spec>& nodes) {
  // Kahn's algorithm over edges source -> target: sources (no incoming edges) first.
  std::vector<size_t> indegree(nodes.size(), 0);
  for (const auto& node : nodes)
    for (const auto& t : node.targets)
      for (size_t j = 0; j < nodes.size(); ++j)
        if (nodes[j].name == t.component)
          ++indegree[j];
  std::vector<size_t> order;
  std::vector<bool> done(nodes.size(), false);
  while (order.size() < nodes.size()) {
    bool progressed = false;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (done[i] || indegree[i] != 0)
        continue;
      done[i] = true;
      progressed = true;
      order.push_back(i);
      for (const auto& t : nodes[i].targets)
        for (size_t j = 0; j < nodes.size(); ++j)
          if (nodes[j].name == t.component && indegree[j] > 0)
            --indegree[j];
    }
    if (!progressed) // a cycle: drain the rest in declaration order
      for (size_t i = 0; i < nodes.size(); ++i)
        if (!done[i]) {
          done[i] = true;
          order.push_back(i);
        }
  }
  return order;
}

bool graph_runner::drain(std::chrono::milliseconds timeout) {
  auto log = rt_.logger("runner", graph_name_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool clean = true;
  caf::scoped_actor self{rt_.system()};
  for (auto node_index : drain_order(nodes_)) {
    for (size_t i = 0; i < instances_.size(); ++i) {
      if (instance_node_[i] != node_index)
        continue;
      auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (remaining.count() < 1)
        remaining = std::chrono::milliseconds{1};
      // A plain send (not a request): the reply comes back as an ordinary message, and a
      // down_msg of the replica ends the wait too. CAF 0.17 never answers a request whose
      // receiver died while holding its response promise, so waiting on the request alone
      // would block a forced stop until the drain bound.
      const auto& inst = instances_[i];
      auto hdl = caf::actor_cast<lifecycle_actor>(inst.handle);
      self->monitor(inst.handle);
      self->send(hdl, drain_atom::value, static_cast<uint32_t>(remaining.count()));
      bool done = false;
      while (!done)
        self->receive(
          [&](const drain_report& report) {
            done = true;
            if (!report.clean) {
              clean = false;
              log->warn("{} {} drained with {} request(s) abandoned", inst.component,
                        inst.instance.to_string(), report.abandoned);
            } else {
              log->info("{} {} drained", inst.component, inst.instance.to_string());
            }
          },
          [&](const caf::error& err) {
            done = true;
            clean = false;
            log->warn("{} {} did not drain: {}", inst.component, inst.instance.to_string(),
                      describe(err));
          },
          [&](const caf::down_msg& down) {
            if (down.source != inst.handle.address())
              return; // a replica drained earlier, terminating now
            done = true;
            clean = false;
            log->warn("{} {} terminated before finishing its drain", inst.component,
                      inst.instance.to_string());
          },
          caf::after(remaining + std::chrono::milliseconds{500}) >> [&] {
            done = true;
            clean = false;
            log->warn("{} {} did not answer the drain within {} ms", inst.component,
                      inst.instance.to_string(), remaining.count());
          });
      self->demonitor(inst.handle);
    }
  }
  return clean;
}

void graph_runner::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  caf::scoped_actor self{rt_.system()};
  for (const auto& inst : instances_) {
    self->monitor(inst.handle);
    self->send_exit(inst.handle, caf::exit_reason::kill);
  }
  size_t pending = instances_.size();
  bool timed_out = false;
  while (pending > 0 && !timed_out)
    self->receive([&pending](const caf::down_msg&) { --pending; },
                  caf::after(std::chrono::seconds(5)) >> [&timed_out] { timed_out = true; });
  if (timed_out)
    rt_.logger("runner", graph_name_)->error("{} component(s) did not stop within 5 s", pending);
  instances_.clear();
  instance_node_.clear();
}

void graph_runner::kill_all() const {
  for (const auto& inst : instances_)
    caf::anon_send_exit(inst.handle, caf::exit_reason::kill);
}

std::vector<running_instance> graph_runner::instances_of(const std::string& name) const {
  std::vector<running_instance> result;
  for (const auto& inst : instances_)
    if (inst.component == name)
      result.push_back(inst);
  return result;
}

} // namespace dynamo
