# The kv endpoint of workers (dynamo::actors::kv_query_actor) on the wire: how routers recover
# missed KV events. Evolution rules: docs/design/capnp.md ("Wire compatibility"): add fields with
# new ordinals only, never renumber or retype; an incompatible change bumps the binding's
# interface name.
@0xf879f688894fe3e8;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dynamo::actors::wire::schema");

using Rpc = import "/dynamo/capnp/rpc.capnp";

# dynamo::actors::kv_replay.
struct KvReplay {
  fullDump @0 :Bool;        # true: `batch` is the worker's whole state (clear first)
  lastEventId @1 :UInt64;   # newest event id reflected
  batch @2 :Data;           # dynamo::kv_router::encode_batch JSON, passed through unchanged
}

# The reply of a query: the replay, or the worker's error.
struct KvReplayResult {
  union {
    replay @0 :KvReplay;
    error @1 :Rpc.Error;
  }
}

interface KvQuery {
  # The events after afterEventId if the worker still has them all, else (or with forceDump)
  # a full dump of its prefix cache.
  query @0 (afterEventId :UInt64, forceDump :Bool) -> (result :KvReplayResult);
}
