// The plane contract suites, run against the in-process backends.
#include "dynamo/plane/inproc_data.hpp"
#include "dynamo/plane/inproc_discovery.hpp"
#include "dynamo/plane/inproc_events.hpp"
#include "dynamo/plane/inproc_requests.hpp"
#include "dynamo/testing/contract/data_contract.hpp"
#include "dynamo/testing/contract/discovery_contract.hpp"
#include "dynamo/testing/contract/events_contract.hpp"
#include "dynamo/testing/contract/requests_contract.hpp"

#include <gtest/gtest.h>

namespace dynamo::testing::contract {
namespace {

struct inproc_discovery_traits {
  static std::unique_ptr<discovery_plane> make() {
    return make_inproc_discovery();
  }
  static std::chrono::milliseconds expiry_slack() {
    return 250ms; // one backend thread; generous for loaded CI machines under ASan
  }
};

struct inproc_event_traits {
  static std::unique_ptr<event_plane> make() {
    return make_inproc_events();
  }
};

struct inproc_data_traits {
  static std::pair<std::unique_ptr<data_plane>, std::unique_ptr<data_plane>> make_pair() {
    auto fabric = make_inproc_fabric();
    return {fabric->make_agent("prefill"), fabric->make_agent("decode")};
  }
};

struct inproc_request_traits {
  static std::unique_ptr<request_plane> make(caf::actor_system& sys) {
    return make_inproc_requests(sys);
  }
};

} // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(inproc, discovery_contract,
                               ::testing::Types<inproc_discovery_traits>);
INSTANTIATE_TYPED_TEST_SUITE_P(inproc, events_contract, ::testing::Types<inproc_event_traits>);
INSTANTIATE_TYPED_TEST_SUITE_P(inproc, data_contract, ::testing::Types<inproc_data_traits>);
INSTANTIATE_TYPED_TEST_SUITE_P(inproc, requests_contract,
                               ::testing::Types<inproc_request_traits>);

} // namespace dynamo::testing::contract
