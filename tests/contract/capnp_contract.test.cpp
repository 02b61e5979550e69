// The request-plane contract, run against the Cap'n Proto backend: handlers are served on one
// plane and called through a second plane in the same process, over loopback TCP.
#include "ct_binding.hpp"

#include "dynamo/capnp/requests.hpp"
#include "dynamo/testing/contract/requests_contract.hpp"

#include <gtest/gtest.h>

namespace dynamo::testing::contract {
namespace {

capnp::request_options options() {
  capnp::request_options opts;
  auto binding = make_contract_binding();
  for (const char* endpoint : {"generate", "other", "nothing"})
    opts.bindings[endpoint] = binding;
  return opts;
}

struct capnp_request_traits {
  static std::unique_ptr<request_plane> make(caf::actor_system& sys) {
    auto plane = capnp::make_requests(sys, options());
    EXPECT_TRUE(ok(plane)) << (plane ? "" : describe(plane.error()));
    return plane ? std::move(*plane) : nullptr;
  }

  static std::unique_ptr<request_plane> make_client(caf::actor_system& sys,
                                                    request_plane& server) {
    auto opts = options();
    opts.resolve = [address = server.advertised_address()](const instance_endpoint&) {
      return caf::expected<std::string>{address};
    };
    auto plane = capnp::make_requests(sys, std::move(opts));
    EXPECT_TRUE(ok(plane)) << (plane ? "" : describe(plane.error()));
    return plane ? std::move(*plane) : nullptr;
  }
};

} // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(capnp, requests_contract, ::testing::Types<capnp_request_traits>);

} // namespace dynamo::testing::contract
