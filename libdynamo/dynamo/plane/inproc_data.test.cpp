#include "dynamo/plane/inproc_data.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

/// Counts completions and lets a test wait for them (bounded).
struct completions {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<errc> results;

  std::function<void(caf::error)> callback() {
    return [this](caf::error err) {
      std::lock_guard guard{mu};
      results.push_back(classify(err));
      cv.notify_all();
    };
  }

  bool wait_for(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lk{mu};
    return cv.wait_for(lk, timeout, [this, n] { return results.size() >= n; });
  }
};

TEST(inproc_fabric, agents_are_listed_and_empty_names_are_generated) {
  auto fabric = make_inproc_fabric();
  auto a = fabric->make_agent("prefill");
  auto b = fabric->make_agent("");
  EXPECT_EQ(a->name(), "inproc");
  EXPECT_EQ(a->agent(), "prefill");
  EXPECT_FALSE(b->agent().empty());
  auto names = fabric->agents();
  EXPECT_EQ(names.size(), 2u);
  b.reset();
  EXPECT_EQ(fabric->agents(), std::vector<std::string>{"prefill"});
}

TEST(inproc_fabric, a_name_taken_over_makes_old_descriptors_stale) {
  auto fabric = make_inproc_fabric();
  auto local = fabric->make_agent("local");
  auto old_peer = fabric->make_agent("peer");
  std::vector<std::byte> lbuf(64);
  std::vector<std::byte> pbuf(64);
  auto ld = local->register_region(lbuf.data(), lbuf.size());
  auto pd = old_peer->register_region(pbuf.data(), pbuf.size());
  ASSERT_TRUE(ld && pd);
  auto new_peer = fabric->make_agent("peer");
  auto never = [](caf::error) { ADD_FAILURE() << "refused transfers never complete"; };
  auto id = local->transfer(transfer_direction::read, ld->region_id, *pd, {{0, 0, 8}}, never);
  ASSERT_FALSE(id);
  EXPECT_EQ(classify(id.error()), errc::not_found);
  old_peer.reset(); // must not withdraw the new agent of that name
  EXPECT_EQ(fabric->agents(), (std::vector<std::string>{"local", "peer"}));
}

TEST(inproc_fabric, destroying_an_agent_waits_for_its_transfers) {
  std::vector<std::byte> abuf(1 << 20, std::byte{1});
  std::vector<std::byte> bbuf(1 << 20);
  auto fabric = make_inproc_fabric({1, nullptr});
  auto a = fabric->make_agent("a");
  auto b = fabric->make_agent("b");
  auto ad = a->register_region(abuf.data(), abuf.size());
  auto bd = b->register_region(bbuf.data(), bbuf.size());
  ASSERT_TRUE(ad && bd);
  auto done = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 32; ++i)
    ASSERT_TRUE(a->transfer(transfer_direction::write, ad->region_id, *bd,
                            {{0, 0, abuf.size()}}, [done](caf::error) { ++*done; }));
  a.reset();
  EXPECT_EQ(*done, 32) << "every on_done ran before the agent's destructor returned";
}

TEST(inproc_fabric, an_agent_may_be_destroyed_inside_its_own_on_done) {
  completions c;
  std::mutex mu;
  std::vector<std::byte> abuf(4096);
  std::vector<std::byte> bbuf(4096);
  auto fabric = make_inproc_fabric({1, nullptr});
  auto a = fabric->make_agent("a");
  auto b = fabric->make_agent("b");
  auto ad = a->register_region(abuf.data(), abuf.size());
  auto bd = b->register_region(bbuf.data(), bbuf.size());
  ASSERT_TRUE(ad && bd);
  auto* owner = &a;
  auto* agent = a.get();
  std::atomic<bool> all_queued{false};
  // The first completion destroys the agent while more of its transfers are still queued on
  // the single worker: the destructor must run them instead of waiting forever.
  auto first = [owner, &mu, &c, &all_queued](caf::error err) {
    dynamo::testing::wait_until([&all_queued] { return all_queued.load(); }, 5000ms);
    {
      std::lock_guard guard{mu};
      owner->reset();
    }
    c.callback()(std::move(err));
  };
  ASSERT_TRUE(agent->transfer(transfer_direction::read, ad->region_id, *bd, {{0, 0, 8}}, first));
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(agent->transfer(transfer_direction::read, ad->region_id, *bd, {{0, 0, 8}},
                                c.callback()));
  all_queued = true;
  ASSERT_TRUE(c.wait_for(5)) << "all transfers complete";
  std::lock_guard guard{mu};
  EXPECT_EQ(a, nullptr);
  std::lock_guard results_guard{c.mu};
  for (auto r : c.results)
    EXPECT_EQ(r, errc::none) << "transfers queued before the destruction still succeed";
}

TEST(inproc_fabric, a_peer_that_goes_away_is_not_found_for_new_transfers) {
  auto fabric = make_inproc_fabric();
  auto a = fabric->make_agent("a");
  auto b = fabric->make_agent("b");
  std::vector<std::byte> abuf(64);
  std::vector<std::byte> bbuf(64);
  auto ad = a->register_region(abuf.data(), abuf.size());
  auto bd = b->register_region(bbuf.data(), bbuf.size());
  ASSERT_TRUE(ad && bd);
  b.reset();
  auto id = a->transfer(transfer_direction::write, ad->region_id, *bd, {{0, 0, 8}},
                        [](caf::error) {});
  ASSERT_FALSE(id);
  EXPECT_EQ(classify(id.error()), errc::not_found);
}

TEST(inproc_fabric, a_region_of_an_agent_can_be_copied_onto_itself) {
  completions c;
  std::vector<std::byte> buf(16);
  auto fabric = make_inproc_fabric();
  auto a = fabric->make_agent("a");
  for (size_t i = 0; i < buf.size(); ++i)
    buf[i] = static_cast<std::byte>(i);
  auto d = a->register_region(buf.data(), buf.size());
  ASSERT_TRUE(d);
  ASSERT_TRUE(a->transfer(transfer_direction::read, d->region_id, *d, {{4, 0, 8}}, c.callback()));
  ASSERT_TRUE(c.wait_for(1));
  {
    std::lock_guard guard{c.mu};
    EXPECT_EQ(c.results[0], errc::none);
  }
  for (size_t i = 0; i < 8; ++i)
    EXPECT_EQ(buf[4 + i], static_cast<std::byte>(i)) << "overlapping copies behave like memmove";
}

} // namespace
} // namespace dynamo
