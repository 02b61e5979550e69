// examples/custom_component: the agg graph with a user-written guardrail inserted between the
// frontend and the router.
//
//   frontend --generate--> guardrail --generate--> router --worker--> worker (x2)
#include "guardrail.hpp"

#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/launch/run.hpp"

namespace da = dynamo::actors;

int main(int argc, char** argv, char** envp) {
  dynamo::graph g{"guarded"};
  auto workers = g.add<da::mocker_worker>("worker", {}, 2);
  auto router = g.add<da::router>("router");
  auto guard = g.add<guardrail_example::guardrail>("guardrail");
  auto frontend = g.add<da::frontend>("frontend");
  g.connect(frontend, guard);
  g.connect(guard, router);
  g.connect(router, workers);
  return dynamo::run(g, argc, argv, envp);
}
