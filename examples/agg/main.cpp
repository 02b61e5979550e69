// examples/agg: the aggregated graph — an OpenAI frontend, a router and N aggregated workers
// with the mocker engine, all in one process. This is what the README's serve command runs.
//
//   frontend --generate--> router --worker--> worker (x2)
#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/launch/run.hpp"

namespace da = dynamo::actors;

int main(int argc, char** argv, char** envp) {
  dynamo::graph g{"agg"};
  da::worker_config worker_cfg;
  worker_cfg.mocker.speedup_ratio = 10.0;  // a simulated engine, ten times faster than the model
  auto workers = g.add<da::mocker_worker>("worker", worker_cfg, 2);
  auto router = g.add<da::router>("router");
  auto frontend = g.add<da::frontend>("frontend");
  g.connect(frontend, router);
  g.connect(router, workers);
  return dynamo::run(g, argc, argv, envp);
}
