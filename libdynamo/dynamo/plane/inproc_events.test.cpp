#include "dynamo/plane/inproc_events.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <sstream>
#include <stdexcept>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

/// A logger writing into a string stream, to assert on warnings.
struct captured_log {
  std::ostringstream out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink
    = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  logger_ptr log = std::make_shared<spdlog::logger>("events-test", sink);

  size_t count(std::string_view needle) {
    sink->flush();
    auto text = out.str();
    size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
      ++n;
    return n;
  }
};

TEST(inproc_events, a_publisher_outliving_its_plane_reports_unavailable) {
  auto plane = make_inproc_events();
  EXPECT_EQ(plane->name(), "inproc");
  auto pub = plane->make_publisher("p");
  ASSERT_TRUE(pub->publish("a.b", "x"));
  plane.reset();
  auto seq = pub->publish("a.b", "y");
  ASSERT_FALSE(seq);
  EXPECT_EQ(classify(seq.error()), errc::unavailable);
}

TEST(inproc_events, drop_warnings_are_rate_limited) {
  captured_log cap;
  auto plane = make_inproc_events(cap.log);
  std::atomic<bool> release{false};
  auto sub = plane->subscribe(
    "a.>",
    [&release](const event_message&) {
      dynamo::testing::wait_until([&release] { return release.load(); }, 5000ms);
    },
    subscription_options{1});
  ASSERT_TRUE(sub);
  auto pub = plane->make_publisher("p");
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(pub->publish("a.b", "x"));
  EXPECT_GT(plane->stats(*sub).dropped, 150u);
  EXPECT_EQ(cap.count("too slow"), 1u) << "one warning per second, not one per drop";
  release = true;
  plane->unsubscribe(*sub);
}

TEST(inproc_events, a_throwing_callback_is_logged_and_delivery_goes_on) {
  captured_log cap;
  auto plane = make_inproc_events(cap.log);
  std::atomic<int> calls{0};
  auto sub = plane->subscribe("a.>", [&calls](const event_message&) {
    if (++calls == 1)
      throw std::runtime_error("boom");
  });
  ASSERT_TRUE(sub);
  auto pub = plane->make_publisher("p");
  ASSERT_TRUE(pub->publish("a.b", "1"));
  ASSERT_TRUE(pub->publish("a.b", "2"));
  DYNAMO_EXPECT_EVENTUALLY(plane->stats(*sub).delivered == 2, 2000ms, "both messages handled");
  EXPECT_EQ(cap.count("boom"), 1u);
  plane->unsubscribe(*sub);
}

} // namespace
} // namespace dynamo
