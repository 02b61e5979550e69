# The contract test interface (contract_actor in requests_contract.hpp) on the wire: unary
# echo, a streamed call of strings, cancellation.
@0xc1639ba165b190ac;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dynamo::testing::contract::wire");

using Rpc = import "/dynamo/capnp/rpc.capnp";

# The caller's sink of a streamed call.
interface StringSink {
  item @0 (item :Text) -> stream;
  end @1 ();
  fail @2 (error :Rpc.Error);
}

interface Contract {
  # ct_echo: replies with the same text, or an error.
  echo @0 (text :Text) -> (text :Text, error :Rpc.Error);
  # ct_call: streams n items to the sink; returns once the stream ended.
  call @1 (requestId :UInt64, n :UInt32, sink :StringSink) -> ();
  # cancel: kind is a dynamo::cancel_kind value.
  cancel @2 (requestId :UInt64, kind :UInt8) -> ();
}
