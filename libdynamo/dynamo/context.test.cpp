#include "dynamo/context.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace dynamo {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using clock_type = request_context::clock;

/// Records the kinds a callback saw, thread-safely.
struct recorder {
  std::mutex mtx;
  std::vector<cancel_kind> seen;

  std::function<void(cancel_kind)> callback() {
    return [this](cancel_kind k) {
      std::lock_guard guard{mtx};
      seen.push_back(k);
    };
  }

  std::vector<cancel_kind> get() {
    std::lock_guard guard{mtx};
    return seen;
  }
};

TEST(context, starts_uncancelled_with_id_and_deadline) {
  auto deadline = clock_type::now() + 1h;
  auto ctx = request_context::make("req-1", deadline);
  EXPECT_EQ(ctx->id(), "req-1");
  EXPECT_EQ(ctx->deadline(), deadline);
  EXPECT_EQ(ctx->cancelled(), cancel_kind::none);
  EXPECT_FALSE(ctx->is_stopped());
  EXPECT_FALSE(ctx->is_killed());
  EXPECT_FALSE(ctx->expired());
  EXPECT_TRUE(ctx->expired(deadline));
  EXPECT_FALSE(ctx->expired(deadline - 1ns));
  EXPECT_FALSE(request_context::make("no-deadline")->expired());
}

TEST(context, kind_names) {
  EXPECT_EQ(to_string(cancel_kind::none), "none");
  EXPECT_EQ(to_string(cancel_kind::stop_generating), "stop_generating");
  EXPECT_EQ(to_string(cancel_kind::kill), "kill");
}

TEST(context, cancellation_propagates_down_a_three_level_tree_but_not_up) {
  auto root = request_context::make("root");
  auto mid = root->make_child("mid");
  auto leaf = mid->make_child("leaf");
  auto sibling = root->make_child("sibling");

  leaf->stop_generating();
  EXPECT_TRUE(leaf->is_stopped());
  EXPECT_FALSE(mid->is_stopped());
  EXPECT_FALSE(root->is_stopped());

  mid->kill();
  EXPECT_TRUE(mid->is_killed());
  EXPECT_TRUE(leaf->is_killed());
  EXPECT_EQ(root->cancelled(), cancel_kind::none);
  EXPECT_EQ(sibling->cancelled(), cancel_kind::none);

  root->stop_generating();
  EXPECT_EQ(root->cancelled(), cancel_kind::stop_generating);
  EXPECT_EQ(sibling->cancelled(), cancel_kind::stop_generating);
  EXPECT_EQ(mid->cancelled(), cancel_kind::kill); // never downgraded
  EXPECT_EQ(leaf->cancelled(), cancel_kind::kill);
}

TEST(context, root_kill_reaches_every_level) {
  auto root = request_context::make("root");
  auto mid = root->make_child("mid");
  auto leaf = mid->make_child("leaf");
  recorder r;
  leaf->on_cancel(r.callback());
  root->kill();
  EXPECT_TRUE(mid->is_killed());
  EXPECT_TRUE(leaf->is_killed());
  EXPECT_THAT(r.get(), ElementsAre(cancel_kind::kill)); // a direct kill is one step
}

TEST(context, stop_then_kill_runs_callbacks_in_order_once_each) {
  auto ctx = request_context::make("r");
  auto child = ctx->make_child("c");
  recorder parent_r;
  recorder child_r;
  ctx->on_cancel(parent_r.callback());
  child->on_cancel(child_r.callback());
  ctx->stop_generating();
  ctx->stop_generating(); // idempotent
  ctx->kill();
  ctx->kill();
  ctx->stop_generating(); // no downgrade
  EXPECT_THAT(parent_r.get(), ElementsAre(cancel_kind::stop_generating, cancel_kind::kill));
  EXPECT_THAT(child_r.get(), ElementsAre(cancel_kind::stop_generating, cancel_kind::kill));
}

TEST(context, callbacks_run_on_the_cancelling_thread_before_it_returns) {
  auto ctx = request_context::make("r");
  std::thread::id ran_on;
  ctx->on_cancel([&ran_on](cancel_kind) { ran_on = std::this_thread::get_id(); });
  std::thread::id canceller;
  std::thread t{[&ctx, &canceller] {
    canceller = std::this_thread::get_id();
    ctx->stop_generating();
  }};
  t.join();
  EXPECT_EQ(ran_on, canceller);
}

TEST(context, callbacks_registered_after_cancellation_run_immediately) {
  auto ctx = request_context::make("r");
  ctx->stop_generating();
  recorder r;
  ctx->on_cancel(r.callback());
  EXPECT_THAT(r.get(), ElementsAre(cancel_kind::stop_generating));
  ctx->kill(); // still registered: the upgrade reaches it
  EXPECT_THAT(r.get(), ElementsAre(cancel_kind::stop_generating, cancel_kind::kill));
  recorder late;
  ctx->on_cancel(late.callback());
  EXPECT_THAT(late.get(), ElementsAre(cancel_kind::kill));
}

TEST(context, removed_callbacks_do_not_run) {
  auto ctx = request_context::make("r");
  recorder kept;
  recorder removed;
  ctx->on_cancel(kept.callback());
  auto token = ctx->on_cancel(removed.callback());
  ctx->remove_callback(token);
  ctx->remove_callback(token);  // unknown tokens are ignored
  ctx->remove_callback(424242);
  ctx->stop_generating();
  EXPECT_THAT(kept.get(), ElementsAre(cancel_kind::stop_generating));
  EXPECT_TRUE(removed.get().empty());
}

TEST(context, callbacks_may_reenter_the_context) {
  auto ctx = request_context::make("r");
  uint64_t token = 0;
  std::atomic<int> runs{0};
  token = ctx->on_cancel([&ctx, &token, &runs](cancel_kind) {
    ++runs;
    ctx->remove_callback(token);
    ctx->kill(); // cancelling from inside a callback must not deadlock
  });
  ctx->stop_generating();
  EXPECT_TRUE(ctx->is_killed());
  EXPECT_EQ(runs.load(), 1);
}

TEST(context, concurrent_kill_runs_each_callback_for_kill_exactly_once) {
  for (int round = 0; round < 20; ++round) {
    auto root = request_context::make("r");
    auto child = root->make_child("c");
    std::atomic<int> root_kills{0};
    std::atomic<int> child_kills{0};
    std::atomic<int> stops{0};
    auto counting = [&stops](std::atomic<int>& kills) {
      return [&kills, &stops](cancel_kind k) {
        ++(k == cancel_kind::kill ? kills : stops);
      };
    };
    for (int i = 0; i < 3; ++i) {
      root->on_cancel(counting(root_kills));
      child->on_cancel(counting(child_kills));
    }
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
      threads.emplace_back([&root, &child, &go, t] {
        while (!go.load())
          std::this_thread::yield();
        switch (t % 3) {
          case 0:
            root->kill();
            break;
          case 1:
            root->stop_generating();
            break;
          default:
            child->kill();
        }
        // Whoever returns has seen the whole subtree marked.
        EXPECT_TRUE(child->is_stopped());
      });
    go = true;
    for (auto& th : threads)
      th.join();
    EXPECT_EQ(root_kills.load(), 3);
    EXPECT_EQ(child_kills.load(), 3);
    EXPECT_LE(stops.load(), 6); // a stop runs at most once per callback, and may be skipped
  }
}

TEST(context, deadlines_inherit_the_minimum) {
  auto now = clock_type::now();
  auto root = request_context::make("r", now + 10s);
  EXPECT_EQ(root->make_child("later", now + 20s)->deadline(), now + 10s);
  EXPECT_EQ(root->make_child("none")->deadline(), now + 10s);
  auto sooner = root->make_child("sooner", now + 5s);
  EXPECT_EQ(sooner->deadline(), now + 5s);
  EXPECT_EQ(sooner->make_child("grandchild", now + 7s)->deadline(), now + 5s);
  EXPECT_EQ(request_context::make("free")->make_child("c")->deadline(),
            clock_type::time_point::max());
}

TEST(context, children_of_a_cancelled_parent_start_cancelled) {
  auto root = request_context::make("r");
  root->stop_generating();
  auto child = root->make_child("c");
  EXPECT_EQ(child->cancelled(), cancel_kind::stop_generating);
  recorder r;
  child->on_cancel(r.callback());
  EXPECT_THAT(r.get(), ElementsAre(cancel_kind::stop_generating));
  root->kill();
  EXPECT_TRUE(child->is_killed());
  EXPECT_TRUE(root->make_child("after-kill")->is_killed());
}

TEST(context, parent_holds_children_weakly) {
  auto root = request_context::make("r");
  std::weak_ptr<request_context> weak_child;
  {
    auto child = root->make_child("c");
    weak_child = child;
    EXPECT_EQ(root->live_children(), 1u);
  }
  EXPECT_TRUE(weak_child.expired());
  EXPECT_EQ(root->live_children(), 0u);
  root->kill(); // a vanished child is simply skipped
  // Many short-lived children: none stays alive, and cancellation still reaches a kept one.
  auto parent = request_context::make("p");
  for (int i = 0; i < 1000; ++i)
    parent->make_child("tmp");
  auto kept = parent->make_child("kept");
  EXPECT_EQ(parent->live_children(), 1u);
  parent->stop_generating();
  EXPECT_TRUE(kept->is_stopped());
}

TEST(context, a_child_keeps_working_after_its_parent_is_gone) {
  std::shared_ptr<request_context> child;
  {
    auto root = request_context::make("r", clock_type::now() + 1h);
    child = root->make_child("c");
  }
  EXPECT_FALSE(child->is_stopped());
  child->kill();
  EXPECT_TRUE(child->is_killed());
}

TEST(context, callbacks_are_released_after_kill) {
  auto ctx = request_context::make("r");
  auto resource = std::make_shared<int>(1);
  std::weak_ptr<int> weak = resource;
  ctx->on_cancel([res = std::move(resource)](cancel_kind) {});
  EXPECT_FALSE(weak.expired());
  ctx->kill();
  EXPECT_TRUE(weak.expired()) << "a killed context must drop its callbacks' captures";
}

} // namespace
} // namespace dynamo
