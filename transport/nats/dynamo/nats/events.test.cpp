#include "dynamo/nats/events.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/nats_server.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <nats/nats.h>

#include <atomic>
#include <memory>

namespace dynamo::nats {
namespace {

using namespace std::chrono_literals;

event_options options_for(const testing::nats_server& server) {
  event_options opts;
  opts.connection.url = server.url();
  return opts;
}

// Publishes `payload` on `subject` with the given headers through a raw nats.c connection.
void publish_raw(const std::string& url, const char* subject,
                 std::vector<std::pair<const char*, const char*>> headers) {
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, url.c_str()), NATS_OK);
  natsMsg* msg = nullptr;
  ASSERT_EQ(natsMsg_Create(&msg, subject, nullptr, "x", 1), NATS_OK);
  for (const auto& [k, v] : headers)
    ASSERT_EQ(natsMsgHeader_Set(msg, k, v), NATS_OK);
  EXPECT_EQ(natsConnection_PublishMsg(nc, msg), NATS_OK);
  EXPECT_EQ(natsConnection_FlushTimeout(nc, 2000), NATS_OK);
  natsMsg_Destroy(msg);
  natsConnection_Destroy(nc);
}

TEST(nats_events, messages_without_valid_headers_are_dropped) {
  testing::nats_server server;
  auto plane = make_events(options_for(server));
  ASSERT_TRUE(plane) << describe(plane.error());
  auto got = std::make_shared<std::atomic<int>>(0);
  auto sub = (*plane)->subscribe("t.>", [got](const event_message&) { ++*got; });
  ASSERT_TRUE(sub);
  publish_raw(server.url(), "t.a", {});
  publish_raw(server.url(), "t.a", {{publisher_header, "p"}});
  publish_raw(server.url(), "t.a", {{publisher_header, "p"}, {sequence_header, "x1"}});
  publish_raw(server.url(), "t.a", {{publisher_header, "p"}, {sequence_header, "0"}});
  publish_raw(server.url(), "t.a", {{publisher_header, ""}, {sequence_header, "1"}});
  publish_raw(server.url(), "t.end", {{publisher_header, "p"}, {sequence_header, "1"}});
  ASSERT_TRUE(testing::wait_until([got] { return *got >= 1; }, 2s))
    << "the well-formed message is delivered";
  EXPECT_EQ(*got, 1) << "malformed messages never reach the callback";
  EXPECT_EQ((*plane)->stats(*sub).delivered, 1u);
}

TEST(nats_events, publisher_outliving_its_plane_is_unavailable) {
  testing::nats_server server;
  auto plane = make_events(options_for(server));
  ASSERT_TRUE(plane) << describe(plane.error());
  auto pub = (*plane)->make_publisher("p");
  ASSERT_TRUE(pub->publish("a.b", "x"));
  plane->reset();
  auto seq = pub->publish("a.b", "x");
  ASSERT_FALSE(seq);
  EXPECT_EQ(classify(seq.error()), errc::unavailable);
}

TEST(nats_events, subscriptions_resume_after_a_server_restart) {
  testing::nats_server server;
  auto pub_plane = make_events(options_for(server));
  auto sub_plane = make_events(options_for(server));
  ASSERT_TRUE(pub_plane && sub_plane);
  auto got = std::make_shared<std::atomic<int>>(0);
  auto sub = (*sub_plane)->subscribe("r.>", [got](const event_message&) { ++*got; });
  ASSERT_TRUE(sub);
  auto pub = (*pub_plane)->make_publisher("p");
  server.restart();
  // Publishes during the reconnect may be lost (at most once): keep publishing until one lands.
  EXPECT_TRUE(testing::wait_until(
    [&pub, got] {
      static_cast<void>(pub->publish("r.x", "after"));
      return *got > 0;
    },
    5s, 50ms))
    << "the subscription receives messages again after the restart";
}

TEST(nats_events, unreachable_server_is_unavailable) {
  event_options opts;
  opts.connection.url = "nats://127.0.0.1:" + std::to_string(testing::free_port());
  opts.connection.timeout = 200ms;
  auto plane = make_events(opts);
  ASSERT_FALSE(plane);
  EXPECT_EQ(classify(plane.error()), errc::unavailable);
}

} // namespace
} // namespace dynamo::nats
