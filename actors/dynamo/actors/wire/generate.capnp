# The generate interface (dynamo::actors::generate_actor) on the wire. Evolution rules:
# docs/design/capnp.md ("Wire compatibility"): add fields with new ordinals only, never renumber
# or retype; an incompatible change bumps the binding's interface name.
@0xf634e63a93f9a8de;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dynamo::actors::wire::schema");

using Rpc = import "/dynamo/capnp/rpc.capnp";

# dynamo::engine::finish_reason.
enum FinishReason {
  none @0;
  length @1;
  stop @2;
  cancelled @3;
  error @4;
}

# dynamo::cancel_kind.
enum CancelKind {
  none @0;
  stopGenerating @1;
  kill @2;
}

# dynamo::actors::generate_request. Defaults match the C++ defaults.
struct GenerateRequest {
  id @0 :UInt64;
  model @1 :Text;
  tokens @2 :List(UInt32);
  temperature @3 :Float32 = 1.0;
  topP @4 :Float32 = 1.0;
  topK @5 :Int32;
  seed :union {
    none @6 :Void;
    value @7 :UInt64;
  }
  maxTokens @8 :UInt32 = 16;
  stopTokenIds @9 :List(UInt32);
  ignoreEos @10 :Bool;
  deadlineUnixMs @11 :Int64;   # absolute, wall clock; 0 = none
  overlapWeight @12 :Float64 = -1.0;      # routing hint; negative = the router's default
  routerTemperature @13 :Float64 = -1.0;  # routing hint; negative = the router's default
  prefillWorker @14 :UInt64;   # disaggregated serving: the prefill worker the router picked; 0 = none
}

# dynamo::actors::token_chunk.
struct TokenChunk {
  tokens @0 :List(UInt32);
  finish @1 :FinishReason;
  promptTokens @2 :UInt32;
  cachedPromptTokens @3 :UInt32;
}

# dynamo::actors::generate_summary.
struct GenerateSummary {
  workerInstance @0 :UInt64;
  promptTokens @1 :UInt32;
  cachedPromptTokens @2 :UInt32;
  completionTokens @3 :UInt32;
  finish @4 :FinishReason;
}

# The reply of a generate call: the summary, or the handler's error.
struct GenerateResult {
  union {
    summary @0 :GenerateSummary;
    error @1 :Rpc.Error;
  }
}

# The caller's token sink. Items are flow-controlled; chunks may arrive merged.
interface TokenSink {
  item @0 (chunk :TokenChunk) -> stream;
  end @1 ();
  fail @2 (error :Rpc.Error);
}

interface Generate {
  # Streams the request's tokens to sink, then returns once the stream ended.
  generate @0 (request :GenerateRequest, sink :TokenSink) -> (result :GenerateResult);
  # Stops (stopGenerating) or drops (kill) a running request of this caller.
  cancel @1 (requestId :UInt64, kind :CancelKind) -> ();
}
