// examples/agg: the aggregated graph — an OpenAI frontend, a router and N aggregated workers,
// all in one process (or one per replica with --launch). This is what the README's serve
// command runs. The workers do real inference with the reference CPU engine on a small model
// that is synthesized on first run into ~/.cache/libdynamo/models/tiny (--model DIR serves a
// Hugging Face checkpoint instead; --engine mocker simulates). The router routes by KV-cache
// overlap and load (--router.policy round-robin|random|least-loaded|kv).
//
//   frontend --generate--> router --worker--> worker (x2)
#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/launch/demo_model.hpp"
#include "dynamo/launch/run.hpp"

namespace da = dynamo::actors;

int main(int argc, char** argv, char** envp) {
  dynamo::graph g{"agg"};
  da::worker_config worker_cfg;
  worker_cfg.engine = "reference";
  worker_cfg.default_model_path = dynamo::demo_model_dir(envp).string();
  worker_cfg.synthesize = "tiny";          // generated there when it holds no checkpoint yet
  worker_cfg.reference.threads = 1;        // two replicas share the machine's cores
  worker_cfg.mocker.speedup_ratio = 10.0;  // with --engine mocker: ten times faster than a GPU
  auto workers = g.add<da::aggregated_worker>("worker", worker_cfg, 2);
  da::router_config router_cfg;
  router_cfg.policy = "kv";                // KV-cache-aware routing (--router.policy changes it)
  auto router = g.add<da::router>("router", router_cfg);
  auto frontend = g.add<da::frontend>("frontend");
  g.connect(frontend, router);
  g.connect(router, workers);
  return dynamo::run(g, argc, argv, envp);
}
