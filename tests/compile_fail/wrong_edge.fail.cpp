// Compile-fail test of the graph DSL: an edge whose target does not provide an interface its
// source requires must not compile. Built twice by CMake: with DYNAMO_VALID_EDGE (must compile:
// proves the file is otherwise fine) and without (must fail, mentioning "connectable").
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/graph.hpp"

int main() {
  dynamo::graph g{"compile_fail"};
  auto router = g.add<dynamo::actors::router>("router");
  auto workers = g.add<dynamo::actors::mocker_worker>("worker");
#ifdef DYNAMO_VALID_EDGE
  g.connect(router, workers);  // a router requires worker_api; workers provide it
#else
  auto other = g.add<dynamo::actors::router>("router2");
  g.connect(router, other);    // a router provides generate_api only: not a worker
#endif
  return 0;
}
