# The Cap'n Proto request plane's own protocol: the bootstrap interface that resolves an address
# to an endpoint capability, the lifetime watch behind every proxy, and the error shape every
# binding uses. Evolution rules: docs/design/capnp.md ("Wire compatibility").
@0xd3c6b2f4a9e81f57;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dynamo::rpc");

# A classified error (dynamo::errc, dynamo/error.hpp). `code` values are the stable errc values;
# an unknown code decodes as `internal`.
struct Error {
  code @0 :UInt8;
  message @1 :Text;   # safe to show to API clients
  detail @2 :Text;    # for operators
}

# What the caller's sink of a streamed call hears from the callee. Bindings declare their own
# sink interface with this shape (item / end / fail, in this order) and their own item type.
# Items are `-> stream` calls: the callee sends the next one when flow control allows.

# The bootstrap capability of every plane's RPC server.
interface Registry {
  # Resolves `endpoint` ("ns.component.endpoint") of `instance` to the capability of its
  # handler, speaking `interface` (a binding's interface_name()). On failure `error` is set and
  # both capabilities are null.
  resolve @0 (endpoint :Text, instance :UInt64, interface :Text)
      -> (endpoint :Capability, lifetime :Lifetime, error :Error);
}

# Tied to the handler actor behind one resolved endpoint.
interface Lifetime {
  # Returns when the handler terminates; `reason` classifies its exit (usually disconnected).
  wait @0 () -> (reason :Error);
}
