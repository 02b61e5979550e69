// The discovery and event plane contracts, run against the NATS backends and one private
// nats-server for the whole executable. Owners and observers use separate connections.
#include "dynamo/nats/discovery.hpp"
#include "dynamo/nats/events.hpp"
#include "dynamo/testing/contract/discovery_contract.hpp"
#include "dynamo/testing/contract/events_contract.hpp"
#include "dynamo/testing/nats_server.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace dynamo::testing::contract {
namespace {

// The server shared by all tests of this executable; set up by nats_environment.
nats_server* server = nullptr;

class nats_environment : public ::testing::Environment {
public:
  void SetUp() override {
    server_ = std::make_unique<nats_server>();
    server = server_.get();
  }

  void TearDown() override {
    server = nullptr;
    server_.reset();
  }

private:
  std::unique_ptr<nats_server> server_;
};

nats::connection_options connection() {
  nats::connection_options opts;
  opts.url = server->url();
  return opts;
}

struct nats_discovery_traits {
  static std::unique_ptr<discovery_plane> make() {
    nats::discovery_options opts;
    opts.connection = connection();
    auto plane = nats::make_discovery(opts);
    EXPECT_TRUE(ok(plane));
    return plane ? std::move(*plane) : nullptr;
  }
  static std::unique_ptr<discovery_plane> make_peer(discovery_plane&) {
    return make();
  }
  static std::chrono::milliseconds expiry_slack() {
    return 250ms; // a KV round trip plus the watcher's poll period, under ASan
  }
};

struct nats_event_traits {
  static std::unique_ptr<event_plane> make() {
    nats::event_options opts;
    opts.connection = connection();
    auto plane = nats::make_events(opts);
    EXPECT_TRUE(ok(plane));
    return plane ? std::move(*plane) : nullptr;
  }
  static std::unique_ptr<event_plane> make_peer(event_plane&) {
    return make();
  }
};

const auto* const environment = ::testing::AddGlobalTestEnvironment(new nats_environment);

} // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(nats, discovery_contract, ::testing::Types<nats_discovery_traits>);
INSTANTIATE_TYPED_TEST_SUITE_P(nats, events_contract, ::testing::Types<nats_event_traits>);

} // namespace dynamo::testing::contract
