// An out-of-tree graph: frontend -> router -> 3 mocker workers, built against the installed SDK.
#include <dynamo/actors/frontend/frontend.hpp>
#include <dynamo/actors/router/router.hpp>
#include <dynamo/actors/worker/worker.hpp>
#include <dynamo/launch/run.hpp>

int main(int argc, char** argv, char** envp) {
  dynamo::graph g{"my_pipeline"};
  dynamo::actors::router_config rc;
  rc.policy = "least-loaded";
  auto workers = g.add<dynamo::actors::mocker_worker>("worker", {}, 3);
  auto router = g.add<dynamo::actors::router>("router", rc);
  auto frontend = g.add<dynamo::actors::frontend>("frontend");
  g.connect(frontend, router);
  g.connect(router, workers);
  return dynamo::run(g, argc, argv, envp);
}
