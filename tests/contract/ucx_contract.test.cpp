// The data-plane contract against the UCX backend: two agents in one process, each with its own
// context, worker and progress thread, reaching each other through the worker addresses in
// their descriptors (shared-memory transports on one host).
#include "dynamo/testing/contract/data_contract.hpp"
#include "dynamo/ucx/ucx_data.hpp"

#include <gtest/gtest.h>

namespace dynamo::testing::contract {
namespace {

std::unique_ptr<data_plane> must_make(std::string name) {
  ucx::ucx_options opts;
  opts.agent = std::move(name);
  opts.transfer_timeout = 10s;
  auto agent = ucx::make_ucx_agent(std::move(opts));
  EXPECT_TRUE(agent) << describe(agent.error());
  return agent ? std::move(*agent) : nullptr;
}

struct ucx_data_traits {
  /// The owner of a region is another UCX worker: its deregistration is invisible to peers.
  static constexpr bool detects_stale_remote = false;

  static std::pair<std::unique_ptr<data_plane>, std::unique_ptr<data_plane>> make_pair() {
    return {must_make("prefill-" + unique_token()), must_make("decode-" + unique_token())};
  }
};

} // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(ucx, data_contract, ::testing::Types<ucx_data_traits>);

} // namespace dynamo::testing::contract
