// The Cap'n Proto binding of the request-plane contract interface (contract_actor), for the
// capnp contract tests and the capnp plane's own tests.
#pragma once

#include "dynamo/capnp/binding.hpp"

#include <memory>

namespace dynamo::testing::contract {

/// Interface name of the contract binding.
inline constexpr const char* ct_interface_name = "dynamo.testing.contract/1";

/// The binding for contract_actor (echo, streamed call of strings, cancel). Any thread.
std::shared_ptr<const capnp::interface_binding> make_contract_binding();

/// Like make_contract_binding(), but items wait in a queue of at most `max_pending` under
/// backpressure (for overload tests). Any thread.
std::shared_ptr<const capnp::interface_binding> make_contract_binding(size_t max_pending);

} // namespace dynamo::testing::contract
