#include "dynamo/plane/inproc_discovery.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

discovery_record make_record(uint64_t instance) {
  return discovery_record{component_id{"ns", "comp"}, instance_id{instance}, {}};
}

TEST(inproc_discovery, a_throwing_callback_does_not_stop_the_backend_thread) {
  std::atomic<int> calls{0};
  auto plane = make_inproc_discovery();
  EXPECT_EQ(plane->name(), "inproc");
  auto w = plane->watch("ns/", [&calls](const discovery_event&) {
    if (++calls == 1)
      throw std::runtime_error("watch callback failure");
  });
  ASSERT_TRUE(w);
  ASSERT_TRUE(plane->register_instance(make_record(1), {}));
  ASSERT_TRUE(plane->register_instance(make_record(2), {}));
  DYNAMO_EXPECT_EVENTUALLY(calls == 2, 2000ms, "the second event is delivered too");
  plane->unwatch(*w);
}

TEST(inproc_discovery, destruction_with_live_leases_and_watches_is_clean) {
  std::atomic<int> calls{0};
  auto plane = make_inproc_discovery();
  ASSERT_TRUE(plane->watch("", [&calls](const discovery_event&) { ++calls; }));
  for (uint64_t i = 1; i <= 10; ++i)
    ASSERT_TRUE(plane->register_instance(make_record(i), {100ms, false}));
  plane.reset();
  auto after = calls.load();
  EXPECT_LE(after, 10) << "no removal is delivered by a destroyed plane";
}

TEST(inproc_discovery, many_leases_expire_in_deadline_order) {
  std::mutex mu;
  std::vector<uint64_t> removed;
  auto plane = make_inproc_discovery();
  ASSERT_TRUE(plane->watch("ns/", [&mu, &removed](const discovery_event& ev) {
    if (ev.type == discovery_event::kind::removed) {
      std::lock_guard guard{mu};
      removed.push_back(ev.record.instance.value);
    }
  }));
  ASSERT_TRUE(plane->register_instance(make_record(3), {300ms, false}));
  ASSERT_TRUE(plane->register_instance(make_record(1), {100ms, false}));
  ASSERT_TRUE(plane->register_instance(make_record(2), {200ms, false}));
  auto all_removed = [&mu, &removed] {
    std::lock_guard guard{mu};
    return removed.size() == 3;
  };
  DYNAMO_EXPECT_EVENTUALLY(all_removed(), 2000ms, "all three leases expire");
  std::lock_guard guard{mu};
  EXPECT_EQ(removed, (std::vector<uint64_t>{1, 2, 3}));
}

} // namespace
} // namespace dynamo
