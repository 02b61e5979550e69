// examples/disagg: disaggregated serving — an OpenAI frontend, a router, two decode workers and
// one prefill worker, in one process (or one per replica with --launch, the KV moving between
// processes over UCX). A decode worker reserves KV blocks for a prompt, the prefill worker
// computes the prompt and writes its KV into those blocks over the data plane, and the decode
// worker streams the tokens. Short prompts (below a threshold derived from the measured transfer
// bandwidth and prefill throughput, --decode.disagg.*) are prefilled by the decode worker
// itself. Engines: the reference CPU engine on the synthesized demo model by default
// (--engine mocker simulates on both roles, with --*.kv-bytes-per-token bytes of KV per token
// so that real bytes move).
//
//   frontend --generate--> router --worker--> decode (x2) --prefill--> prefill (x1)
//                            `-----------------(picks)-----------------^
#include "dynamo/actors/frontend/frontend.hpp"
#include "dynamo/actors/router/router.hpp"
#include "dynamo/actors/worker/prefill_worker.hpp"
#include "dynamo/actors/worker/worker.hpp"
#include "dynamo/launch/demo_model.hpp"
#include "dynamo/launch/run.hpp"

namespace da = dynamo::actors;

int main(int argc, char** argv, char** envp) {
  dynamo::graph g{"disagg"};
  da::worker_config worker_cfg;
  worker_cfg.engine = "reference";
  worker_cfg.default_model_path = dynamo::demo_model_dir(envp).string();
  worker_cfg.synthesize = "tiny";          // generated there when it holds no checkpoint yet
  worker_cfg.reference.threads = 1;        // three workers share the machine's cores
  worker_cfg.mocker.speedup_ratio = 10.0;  // with --*.engine mocker: ten times faster than a GPU
  worker_cfg.mocker.kv_bytes_per_token = 1024;  // mocker: KV bytes per token that really move
  auto prefill = g.add<da::prefill_worker>("prefill", worker_cfg, 1);
  auto decode = g.add<da::decode_worker>("decode", worker_cfg, 2);
  da::router_config router_cfg;
  router_cfg.policy = "kv";
  auto router = g.add<da::router>("router", router_cfg);
  auto frontend = g.add<da::frontend>("frontend");
  g.connect(frontend, router);
  g.connect(router, decode);
  g.connect(router, prefill);
  g.connect(decode, prefill);
  return dynamo::run(g, argc, argv, envp);
}
