#include "dynamo/plane/inproc_requests.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>

namespace dynamo {
namespace {

using namespace std::chrono_literals;

// Answers an int with the int plus `offset`. (An extra argument: CAF 0.17 trips UBSan when a
// function-based actor is spawned without any.)
caf::behavior adder(caf::event_based_actor*, int offset) {
  return {[offset](int x) { return x + offset; }};
}

class inproc_requests_test : public ::testing::Test {
protected:
  inproc_requests_test() {
    cfg_.set("scheduler.max-threads", 2);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }

  instance_endpoint address(uint64_t instance = 1) {
    return {endpoint_id{"ns", "comp", "ep"}, instance_id{instance}};
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
};

TEST_F(inproc_requests_test, a_handler_of_another_actor_system_is_refused) {
  caf::actor_system_config other_cfg;
  other_cfg.set("scheduler.max-threads", 1);
  caf::actor_system other{other_cfg};
  auto plane = make_inproc_requests(*sys_);
  auto foreign = other.spawn(adder, 1);
  EXPECT_EQ(classify(plane->serve(address(), foreign)), errc::invalid_request);
  caf::anon_send_exit(foreign, caf::exit_reason::kill);
}

TEST_F(inproc_requests_test, serving_an_already_terminated_actor_withdraws_it_at_once) {
  auto plane = make_inproc_requests(*sys_);
  auto dead = sys_->spawn(adder, 1);
  {
    caf::scoped_actor self{*sys_};
    self->monitor(dead);
    caf::anon_send_exit(dead, caf::exit_reason::kill);
    bool down = false;
    self->receive([&down](caf::down_msg&) { down = true; },
                  caf::after(2s) >> [] { ADD_FAILURE() << "the actor did not terminate"; });
    ASSERT_TRUE(down);
  }
  EXPECT_FALSE(plane->serve(address(), dead));
  EXPECT_TRUE(plane->served().empty());
  EXPECT_EQ(classify(plane->connect(address()).error()), errc::not_found);
}

TEST_F(inproc_requests_test, a_plane_destroyed_before_its_actors_leaves_them_alone) {
  auto plane = make_inproc_requests(*sys_);
  auto hdl = sys_->spawn(adder, 1);
  ASSERT_FALSE(plane->serve(address(), hdl));
  ASSERT_FALSE(plane->serve(address(2), hdl)) << "one actor may serve several addresses";
  EXPECT_EQ(plane->served().size(), 2u);
  plane.reset();
  caf::scoped_actor self{*sys_};
  int reply = 0;
  self->request(hdl, 2s, 40).receive([&reply](int x) { reply = x; },
                                     [](caf::error& err) { ADD_FAILURE() << describe(err); });
  EXPECT_EQ(reply, 41) << "the actor still works after the plane is gone";
  self->monitor(hdl);
  caf::anon_send_exit(hdl, caf::exit_reason::kill);
  bool down = false;
  self->receive([&down](caf::down_msg&) { down = true; },
                caf::after(2s) >> [] { ADD_FAILURE() << "the actor did not terminate"; });
  EXPECT_TRUE(down) << "its cleanup ran without the plane";
}

} // namespace
} // namespace dynamo
