#include "dynamo/runtime.hpp"

#include "dynamo/config.hpp"
#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/plane/inproc_discovery.hpp"
#include "dynamo/plane/inproc_events.hpp"
#include "dynamo/plane/inproc_requests.hpp"
#include "dynamo/plane/request.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

runtime_config quiet_config() {
  runtime_config cfg;
  cfg.threads = 2;
  cfg.log_level = "warn";
  return cfg;
}

TEST(runtime, make_without_backends_uses_the_in_process_planes) {
  auto rt = runtime::make(quiet_config(), {});
  ASSERT_TRUE(rt) << describe(rt.error());
  EXPECT_EQ((*rt)->discovery().name(), "inproc");
  EXPECT_EQ((*rt)->requests().name(), "inproc");
  EXPECT_EQ((*rt)->events().name(), "inproc");
}

TEST(runtime, make_takes_the_given_backends) {
  std::shared_ptr<discovery_plane> disc = make_inproc_discovery();
  std::shared_ptr<event_plane> events = make_inproc_events();
  caf::actor_system* seen = nullptr;
  plane_backends backends;
  backends.discovery = disc;
  backends.events = events;
  backends.requests = [&seen](caf::actor_system& sys)
    -> caf::expected<std::unique_ptr<request_plane>> {
    seen = &sys;
    return make_inproc_requests(sys);
  };
  auto rt = runtime::make(quiet_config(), std::move(backends));
  ASSERT_TRUE(rt) << describe(rt.error());
  EXPECT_EQ((*rt)->discovery_ptr(), disc);
  EXPECT_EQ(&(*rt)->events(), events.get());
  EXPECT_EQ(seen, &(*rt)->system()) << "the factory gets the runtime's own actor system";
}

TEST(runtime, make_returns_the_request_plane_factory_error) {
  plane_backends backends;
  backends.requests = [](caf::actor_system&) -> caf::expected<std::unique_ptr<request_plane>> {
    return make_error(errc::unavailable, "cannot listen", "127.0.0.1:1 is busy");
  };
  auto rt = runtime::make(quiet_config(), std::move(backends));
  ASSERT_FALSE(rt);
  EXPECT_EQ(classify(rt.error()), errc::unavailable);
  EXPECT_EQ(operator_detail(rt.error()), "127.0.0.1:1 is busy");
}

TEST(runtime, make_refuses_a_null_request_plane) {
  plane_backends backends;
  backends.requests = [](caf::actor_system&) -> caf::expected<std::unique_ptr<request_plane>> {
    return std::unique_ptr<request_plane>{};
  };
  auto rt = runtime::make(quiet_config(), std::move(backends));
  ASSERT_FALSE(rt);
  EXPECT_EQ(classify(rt.error()), errc::internal);
}

TEST(runtime_config, discovery_ttl_is_an_option) {
  runtime_config cfg;
  option_set opts{"test"};
  cfg.bind(opts);
  EXPECT_EQ(cfg.lease_ttl, 3s);
  const char* argv[] = {"prog", "--discovery.ttl", "750ms"};
  auto err = opts.parse(3, argv, {});
  ASSERT_FALSE(err) << describe(err);
  EXPECT_EQ(cfg.lease_ttl, 750ms);
  EXPECT_NE(opts.help().find("DYN_DISCOVERY_TTL"), std::string::npos);
}

} // namespace
} // namespace dynamo
