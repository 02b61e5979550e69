# The prefill endpoint of prefill workers (dynamo::actors::prefill_actor) on the wire:
# disaggregated serving's remote prefill. The KV itself moves over the data plane, not here.
# Evolution rules: docs/design/capnp.md ("Wire compatibility").
@0xc309ee1c8eb4fcf5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dynamo::actors::wire::schema");

using Rpc = import "/dynamo/capnp/rpc.capnp";
using Gen = import "generate.capnp";

# dynamo::actors::remote_prefill_request.
struct RemotePrefillRequest {
  request @0 :Gen.GenerateRequest;
  decodeComponent @1 :Text;   # the decode replica's component (its discovery record)
  decodeInstance @2 :UInt64;  # ... and instance id
  blocks @3 :List(UInt32);    # the decode side's block table for the whole prompt
  cachedTokens @4 :UInt32;    # leading positions cached on the decode side (not written)
}

# dynamo::actors::remote_prefill_result.
struct RemotePrefillResult {
  firstToken @0 :UInt32;
  prefillCachedTokens @1 :UInt32;
  bytes @2 :UInt64;
  prefillUs @3 :UInt64;
  transferUs @4 :UInt64;
  prefillWorker @5 :UInt64;
  queueUs @6 :UInt64;         # admission to the start of the service time (prefillUs)
}

# The reply of a remote prefill: the result, or the prefill worker's error.
struct PrefillResult {
  union {
    result @0 :RemotePrefillResult;
    error @1 :Rpc.Error;
  }
}

interface Prefill {
  # Prefills the request's prompt, writes its KV into the decode replica's blocks, replies.
  prefill @0 (request :RemotePrefillRequest) -> (result :PrefillResult);
  # Stops a running remote prefill of this caller (its blocks on both sides are freed).
  cancel @1 (requestId :UInt64, kind :Gen.CancelKind) -> ();
}
