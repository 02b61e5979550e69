#include "dynamo/runtime.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/data.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/inproc_data.hpp"
#include "dynamo/plane/inproc_discovery.hpp"
#include "dynamo/plane/inproc_events.hpp"
#include "dynamo/plane/inproc_requests.hpp"
#include "dynamo/plane/request.hpp"

#include <fmt/format.h>

#include <random>
#include <thread>

namespace dynamo {

void runtime_config::bind(option_set& opts) {
  opts.add(ns, "runtime.namespace", "namespace of every component id", "DYN_NAMESPACE");
  opts.add(threads, "runtime.threads", "actor scheduler threads (0 = number of cores)",
           "DYN_THREADS");
  opts.add(log_level, "runtime.log-level", "trace, debug, info, warn, error or off", "DYN_LOG");
  opts.add(drain_timeout, "runtime.drain-timeout",
           "bound for graceful drain on SIGINT/SIGTERM (e.g. 10s)", "DYN_DRAIN_TIMEOUT");
  opts.add(seed, "runtime.seed", "seed for instance ids (0 = random)", "DYN_SEED");
  opts.add(lease_ttl, "discovery.ttl",
           "lease of each replica's discovery record: a replica that dies unannounced is "
           "forgotten after this long (at least 100ms)",
           "DYN_DISCOVERY_TTL");
  opts.add(data_backend, "runtime.data-backend",
           "data plane for KV transfers: ucx or inproc (default: ucx when distributed, inproc "
           "when embedded)",
           "DYN_DATA_BACKEND");
  opts.alias("log-level", "runtime.log-level");
  opts.alias("namespace", "runtime.namespace");
}

runtime::runtime(runtime_config cfg) : runtime(std::move(cfg), system_only{}) {
  discovery_ = make_inproc_discovery(logs_.make("discovery", "inproc"));
  requests_ = make_inproc_requests(*system_, logs_.make("requests", "inproc"));
  events_ = make_inproc_events(logs_.make("events", "inproc"));
}

caf::expected<std::unique_ptr<runtime>> runtime::make(runtime_config cfg,
                                                      plane_backends backends) {
  if (cfg.data_backend != "" && cfg.data_backend != "ucx" && cfg.data_backend != "inproc")
    return make_error(errc::invalid_request,
                      fmt::format("unknown data backend '{}' (expected ucx or inproc)",
                                  cfg.data_backend));
  if (cfg.data_backend == "ucx" && !backends.data_agents)
    return make_error(errc::invalid_request,
                      "the ucx data backend needs a distributed runtime (none was configured)");
  std::unique_ptr<runtime> rt{new runtime(std::move(cfg), system_only{})};
  if (rt->cfg_.data_backend != "inproc")
    rt->data_agents_ = std::move(backends.data_agents);
  rt->discovery_ = backends.discovery
                     ? std::move(backends.discovery)
                     : std::shared_ptr<discovery_plane>{
                       make_inproc_discovery(rt->logs_.make("discovery", "inproc"))};
  rt->events_ = backends.events ? std::move(backends.events)
                                : std::shared_ptr<event_plane>{
                                  make_inproc_events(rt->logs_.make("events", "inproc"))};
  if (backends.requests) {
    auto plane = backends.requests(*rt->system_);
    if (!plane)
      return std::move(plane.error());
    if (*plane == nullptr)
      return make_error(errc::internal, "the request plane could not be built",
                        "the request-plane factory returned a null plane");
    rt->requests_ = std::move(*plane);
  } else {
    rt->requests_ = make_inproc_requests(*rt->system_, rt->logs_.make("requests", "inproc"));
  }
  return rt;
}

runtime::runtime(runtime_config cfg, system_only) : cfg_(std::move(cfg)), logs_(cfg_.log_level) {
  auto threads = cfg_.threads != 0 ? cfg_.threads
                                   : std::max<size_t>(2, std::thread::hardware_concurrency());
  sys_cfg_.set("scheduler.max-threads", threads);
  // Idle workers sleep instead of spinning: this runtime shares its cores with I/O threads.
  sys_cfg_.set("work-stealing.aggressive-poll-attempts", size_t{10});
  sys_cfg_.set("work-stealing.moderate-poll-attempts", size_t{50});
  system_ = std::make_unique<caf::actor_system>(sys_cfg_);
  inproc_fabric_options fabric_opts;
  fabric_opts.log = logs_.make("data", "inproc");
  fabric_ = make_inproc_fabric(std::move(fabric_opts));
  if (cfg_.seed == 0) {
    std::random_device rd;
    id_counter_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } else {
    id_counter_ = cfg_.seed;
  }
}

runtime::~runtime() {
  // Actors may still run exit functors that withdraw registrations after CAF counted them as
  // done; those functors hold their own shared reference to the plane they use, so dropping
  // ours here never pulls a plane from under them.
  if (requests_)
    requests_->shutdown();
  system_->await_all_actors_done();
  requests_.reset();
  events_.reset();
  discovery_.reset();
  fabric_.reset();
  system_.reset();
}

logger_ptr runtime::logger(std::string_view component, std::string_view instance) const {
  return logs_.make(component, instance);
}

instance_id runtime::next_instance_id() {
  std::lock_guard<std::mutex> guard{id_mtx_};
  return make_instance_id(++id_counter_);
}

caf::expected<std::unique_ptr<data_plane>> runtime::make_data_agent(std::string name) {
  if (!data_agents_) {
    if (cfg_.data_backend == "ucx")
      return make_error(errc::unavailable, "the ucx data backend is not available here",
                        "an embedded runtime has only the in-process data fabric");
    return fabric_->make_agent(std::move(name));
  }
  auto agent = data_agents_(std::move(name));
  if (agent && *agent == nullptr)
    return make_error(errc::internal, "the data-plane agent could not be built",
                      "the data-agent factory returned a null agent");
  return agent;
}

} // namespace dynamo
