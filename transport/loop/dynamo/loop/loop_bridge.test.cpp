#include "dynamo/loop/loop_bridge.hpp"

#include "dynamo/testing/wait.hpp"

#include <kj/async-io.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace dynamo::loop {
namespace {

/// Runs a kj loop with the bridge on its own thread until stop() is posted.
class loop_thread {
public:
  explicit loop_thread(std::shared_ptr<loop_bridge> bridge)
    : bridge_(std::move(bridge)), thread_([this] { run(); }) {
    EXPECT_TRUE(testing::wait_until([this] { return running_.load(); }, 5000ms))
      << "timed out waiting for the kj loop thread to start";
  }

  ~loop_thread() {
    bridge_->post([this] { stop_->fulfill(); });
    thread_.join();
  }

  std::thread::id id() const {
    return thread_.get_id();
  }

private:
  void run() {
    auto io = kj::setupAsyncIo();
    auto paf = kj::newPromiseAndFulfiller<void>();
    stop_ = kj::mv(paf.fulfiller);
    auto drain = bridge_->run(*io.lowLevelProvider).eagerlyEvaluate(nullptr);
    running_ = true;
    paf.promise.wait(io.waitScope);
  }

  std::shared_ptr<loop_bridge> bridge_;
  std::atomic<bool> running_{false};
  kj::Own<kj::PromiseFulfiller<void>> stop_;
  std::thread thread_;
};

TEST(loop_bridge, runs_closures_on_the_loop_thread_in_posting_order_per_thread) {
  auto bridge = loop_bridge::make(default_logger("loop-test"));
  ASSERT_TRUE(bridge);
  constexpr int producers = 4;
  constexpr int per_producer = 20000;
  std::vector<int> last(producers, -1);  // touched only on the loop thread
  std::atomic<int> ran{0};
  std::atomic<int> out_of_order{0};
  std::atomic<int> wrong_thread{0};
  {
    loop_thread loop{*bridge};
    auto loop_id = loop.id();
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; i < per_producer; ++i) {
          (*bridge)->post([&, p, i] {
            if (std::this_thread::get_id() != loop_id)
              ++wrong_thread;
            if (last[p] != i - 1)
              ++out_of_order;
            last[p] = i;
            ++ran;
          });
        }
      });
    }
    for (auto& t : threads)
      t.join();
    EXPECT_TRUE(testing::wait_until([&] { return ran.load() == producers * per_producer; }, 10s))
      << "timed out: only " << ran.load() << " of " << producers * per_producer << " closures ran";
  }
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_EQ(wrong_thread.load(), 0);
}

TEST(loop_bridge, a_throwing_closure_does_not_stop_the_loop) {
  auto bridge = loop_bridge::make(default_logger("loop-test"));
  ASSERT_TRUE(bridge);
  std::atomic<bool> after{false};
  loop_thread loop{*bridge};
  (*bridge)->post([] { throw std::runtime_error("closure failure (expected in this test)"); });
  (*bridge)->post([&after] { after = true; });
  EXPECT_TRUE(testing::wait_until([&] { return after.load(); }, 5000ms))
    << "timed out waiting for the closure posted after a throwing one";
}

TEST(loop_bridge, posts_after_close_are_refused_and_queued_closures_dropped) {
  auto bridge = loop_bridge::make(default_logger("loop-test"));
  ASSERT_TRUE(bridge);
  auto token = std::make_shared<int>(1);
  EXPECT_TRUE((*bridge)->post([token] {}));
  EXPECT_EQ(token.use_count(), 2);
  EXPECT_TRUE((*bridge)->is_open());
  (*bridge)->close();
  EXPECT_FALSE((*bridge)->is_open());
  EXPECT_EQ(token.use_count(), 1) << "close() destroys queued closures";
  EXPECT_FALSE((*bridge)->post([token] {}));
  EXPECT_EQ(token.use_count(), 1);
}

} // namespace
} // namespace dynamo::loop
