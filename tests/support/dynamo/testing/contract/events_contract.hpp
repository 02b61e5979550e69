// The event-plane contract: what every event backend must guarantee. A backend's test
// executable instantiates it with a traits type:
//
//   struct my_traits {
//     // A plane connected to the backend (fresh or shared: tests scope their subjects).
//     static std::unique_ptr<dynamo::event_plane> make();
//     // Optional: a second client of the same backend; subscriptions then run on it.
//     static std::unique_ptr<dynamo::event_plane> make_peer(dynamo::event_plane&);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my_backend, events_contract, ::testing::Types<my_traits>);
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/plane/event.hpp"
#include "dynamo/testing/contract/common.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace dynamo::testing::contract {

template <class Traits>
class events_contract : public ::testing::Test {
protected:
  using messages = recorder<event_message>;

  void SetUp() override {
    plane_ = Traits::make();
    ASSERT_NE(plane_, nullptr);
    if constexpr (requires { Traits::make_peer(*plane_); }) {
      peer_ = Traits::make_peer(*plane_);
      ASSERT_NE(peer_, nullptr);
    }
    prefix_ = "ct." + unique_token();
  }

  void TearDown() override {
    peer_.reset();
    plane_.reset();
  }

  /// Where publishers are made.
  event_plane& publisher_side() {
    return *plane_;
  }

  /// Where subscriptions are made.
  event_plane& subscriber_side() {
    return peer_ ? *peer_ : *plane_;
  }

  /// `prefix.suffix`, a subject private to this test.
  std::string subject(std::string_view suffix) const {
    return prefix_ + "." + std::string{suffix};
  }

  std::shared_ptr<messages> must_subscribe(const std::string& pattern,
                                           subscription_id* id = nullptr,
                                           subscription_options opts = {}) {
    auto rec = std::make_shared<messages>();
    auto sub = subscriber_side().subscribe(pattern, rec->callback(), opts);
    EXPECT_TRUE(ok(sub)) << "subscribe(" << pattern << ")";
    if (sub && id != nullptr)
      *id = *sub;
    return rec;
  }

  void must_publish(event_publisher& pub, const std::string& subj, std::string payload = {}) {
    auto seq = pub.publish(subj, std::move(payload));
    EXPECT_TRUE(ok(seq)) << "publish(" << subj << ")";
  }

  /// The subjects of the recorded messages, in arrival order.
  static std::vector<std::string> subjects(const messages& rec) {
    std::vector<std::string> result;
    for (const auto& m : rec.items())
      result.push_back(m.subject);
    return result;
  }

  std::unique_ptr<event_plane> plane_;
  std::unique_ptr<event_plane> peer_;
  std::string prefix_;
};

TYPED_TEST_SUITE_P(events_contract);

TYPED_TEST_P(events_contract, sequences_start_at_one_and_delivery_follows_publish_order) {
  constexpr uint64_t per_publisher = 200;
  auto rec = this->must_subscribe(this->subject(">"));
  auto p1 = this->publisher_side().make_publisher("p1-" + unique_token());
  auto p2 = this->publisher_side().make_publisher("p2-" + unique_token());
  auto run = [this](event_publisher& pub) {
    for (uint64_t i = 1; i <= per_publisher; ++i) {
      auto seq = pub.publish(this->subject(i % 2 == 0 ? "even" : "odd"), std::to_string(i));
      ASSERT_TRUE(ok(seq));
      EXPECT_EQ(*seq, i) << "sequence numbers start at 1 and grow by one per publish";
    }
  };
  std::thread t1{[&run, &p1] { run(*p1); }};
  std::thread t2{[&run, &p2] { run(*p2); }};
  t1.join();
  t2.join();
  ASSERT_TRUE(rec->wait_for_size(2 * per_publisher, 5s)) << "got " << rec->size();
  std::map<std::string, uint64_t> last;
  for (const auto& m : rec->items()) {
    auto& prev = last[m.publisher];
    EXPECT_EQ(m.sequence, prev + 1) << "per-publisher delivery order is publish order";
    EXPECT_EQ(m.payload, std::to_string(m.sequence));
    EXPECT_EQ(m.subject, this->subject(m.sequence % 2 == 0 ? "even" : "odd"));
    prev = m.sequence;
  }
  EXPECT_EQ(last[p1->id()], per_publisher);
  EXPECT_EQ(last[p2->id()], per_publisher);
}

TYPED_TEST_P(events_contract, star_matches_exactly_one_token) {
  auto rec = this->must_subscribe(this->subject("*.kv"));
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  for (const char* s : {"w1.kv", "w1.x.kv", "kv", "w2.kv", "w3.kvx", "w4.kv.x", "end.kv"})
    this->must_publish(*pub, this->subject(s));
  auto last = this->subject("end.kv");
  ASSERT_GE(rec->wait_for_match([&last](const event_message& m) { return m.subject == last; }, 2s),
            0);
  // The publisher's order is kept, so any wrongly matched message arrived before "end.kv".
  EXPECT_EQ(this->subjects(*rec), (std::vector<std::string>{this->subject("w1.kv"),
                                                            this->subject("w2.kv"),
                                                            this->subject("end.kv")}));
}

TYPED_TEST_P(events_contract, greater_than_matches_one_or_more_tokens) {
  auto rec = this->must_subscribe(this->subject("kv.>"));
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  for (const char* s : {"kv", "kv.a", "kvx.a", "kv.a.b.c", "x.kv.a", "kv.end"})
    this->must_publish(*pub, this->subject(s));
  auto last = this->subject("kv.end");
  ASSERT_GE(rec->wait_for_match([&last](const event_message& m) { return m.subject == last; }, 2s),
            0);
  EXPECT_EQ(this->subjects(*rec), (std::vector<std::string>{this->subject("kv.a"),
                                                            this->subject("kv.a.b.c"),
                                                            this->subject("kv.end")}));
}

TYPED_TEST_P(events_contract, every_subscriber_gets_everything) {
  constexpr size_t n = 100;
  std::vector<std::shared_ptr<recorder<event_message>>> recs;
  for (int i = 0; i < 3; ++i)
    recs.push_back(this->must_subscribe(this->subject("load.>")));
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  for (size_t i = 0; i < n; ++i)
    this->must_publish(*pub, this->subject("load.w" + std::to_string(i % 4)), std::to_string(i));
  for (auto& rec : recs) {
    ASSERT_TRUE(rec->wait_for_size(n, 5s)) << "got " << rec->size();
    auto items = rec->items();
    EXPECT_EQ(items.size(), n) << "no duplicates";
    for (size_t i = 0; i < items.size(); ++i)
      EXPECT_EQ(items[i].payload, std::to_string(i));
  }
}

TYPED_TEST_P(events_contract, unsubscribe_stops_delivery) {
  subscription_id id = 0;
  auto rec = this->must_subscribe(this->subject(">"), &id);
  auto canary = this->must_subscribe(this->subject(">"));
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  for (int i = 0; i < 10; ++i)
    this->must_publish(*pub, this->subject("x"));
  ASSERT_TRUE(rec->wait_for_size(10, 2s));
  // delivered counts a message once its callback returned, which is just after recording it.
  DYNAMO_EXPECT_EVENTUALLY(this->subscriber_side().stats(id).delivered == 10, 2000ms,
                           "stats() counts the 10 delivered messages");
  this->subscriber_side().unsubscribe(id);
  for (int i = 0; i < 10; ++i)
    this->must_publish(*pub, this->subject("x"));
  ASSERT_TRUE(canary->wait_for_size(20, 2s));
  EXPECT_EQ(rec->size(), 10u) << "no callback after unsubscribe() returned";
  auto st = this->subscriber_side().stats(id);
  EXPECT_EQ(st.delivered + st.dropped + st.pending, 0u) << "an ended subscription has no stats";
  this->subscriber_side().unsubscribe(id); // unknown by now: a no-op
}

TYPED_TEST_P(events_contract, unsubscribe_waits_for_a_running_callback) {
  auto in_callback = std::make_shared<gate>();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto sub = this->subscriber_side().subscribe(
    this->subject(">"), [in_callback, done, calls](const event_message&) {
      ++*calls;
      in_callback->pass();
      *done = true;
    });
  ASSERT_TRUE(ok(sub));
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  this->must_publish(*pub, this->subject("x"));
  ASSERT_TRUE(in_callback->wait_for_waiter(2s)) << "the callback starts";
  std::thread opener{[in_callback] {
    std::this_thread::sleep_for(100ms); // keep the callback busy while unsubscribe() runs
    in_callback->open();
  }};
  this->subscriber_side().unsubscribe(*sub);
  EXPECT_TRUE(*done) << "unsubscribe() returned while a callback was still running";
  opener.join();
  auto canary = this->must_subscribe(this->subject(">"));
  this->must_publish(*pub, this->subject("x"));
  ASSERT_TRUE(canary->wait_for_size(1, 2s));
  EXPECT_EQ(*calls, 1);
}

TYPED_TEST_P(events_contract, unsubscribe_from_inside_the_callback) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto id = std::make_shared<std::atomic<subscription_id>>(0);
  auto started = std::make_shared<gate>();
  auto* side = &this->subscriber_side();
  auto sub = side->subscribe(this->subject(">"), [side, calls, id, started](const event_message&) {
    ++*calls;
    started->pass(); // until the test stored the id
    side->unsubscribe(*id);
  });
  ASSERT_TRUE(ok(sub));
  *id = *sub;
  started->open();
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  for (int i = 0; i < 5; ++i)
    this->must_publish(*pub, this->subject("x"));
  DYNAMO_EXPECT_EVENTUALLY(*calls >= 1, 2000ms, "the first callback runs");
  // Subscribed after the first callback returned: once it saw these, a late callback of the
  // ended subscription would have had its chance too.
  auto canary = this->must_subscribe(this->subject(">"));
  for (int i = 0; i < 5; ++i)
    this->must_publish(*pub, this->subject("x"));
  ASSERT_TRUE(canary->wait_for_size(5, 2s));
  EXPECT_EQ(*calls, 1) << "no callback runs after the one that called unsubscribe()";
}

TYPED_TEST_P(events_contract, slow_subscriber_drops_are_counted_and_seen_as_a_gap) {
  constexpr size_t max_pending = 8;
  constexpr uint64_t burst = 500;
  struct slow_state {
    std::mutex mu;
    sequence_tracker tracker;
    std::vector<sequence_tracker::gap> gaps;
    uint64_t seen = 0;
  };
  auto state = std::make_shared<slow_state>();
  auto blocked = std::make_shared<gate>();
  auto slow = this->subscriber_side().subscribe(
    this->subject(">"),
    [state, blocked](const event_message& m) {
      blocked->pass(); // the first message holds the subscriber until the burst is over
      std::lock_guard guard{state->mu};
      ++state->seen;
      if (auto g = state->tracker.observe(m))
        state->gaps.push_back(*g);
    },
    subscription_options{max_pending});
  ASSERT_TRUE(ok(slow));
  auto fast = this->must_subscribe(this->subject(">"));
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  this->must_publish(*pub, this->subject("kv"));
  ASSERT_TRUE(blocked->wait_for_waiter(2s)) << "the slow subscriber is busy with message 1";
  uint64_t max_seen_pending = 0;
  for (uint64_t i = 2; i <= burst; ++i) {
    this->must_publish(*pub, this->subject("kv"));
    max_seen_pending = std::max(max_seen_pending, this->subscriber_side().stats(*slow).pending);
  }
  EXPECT_LE(max_seen_pending, max_pending) << "a slow subscriber's queue stays bounded";
  DYNAMO_EXPECT_EVENTUALLY(this->subscriber_side().stats(*slow).dropped > 0, 2000ms,
                           "drops counted while the subscriber is blocked");
  blocked->open();
  auto accounted = [this, &slow](uint64_t n) {
    auto st = this->subscriber_side().stats(*slow);
    return st.pending == 0 && st.delivered + st.dropped == n;
  };
  DYNAMO_EXPECT_EVENTUALLY(accounted(burst), 5000ms,
                           "every message is either delivered or counted as dropped");
  // A message after the burst reveals the tail that was dropped.
  this->must_publish(*pub, this->subject("kv"));
  DYNAMO_EXPECT_EVENTUALLY(accounted(burst + 1), 2000ms, "the probe message is delivered");
  auto st = this->subscriber_side().stats(*slow);
  EXPECT_GT(st.dropped, 0u);
  EXPECT_LE(st.delivered, burst + 1 - st.dropped);
  {
    std::lock_guard guard{state->mu};
    EXPECT_EQ(state->seen, st.delivered);
    ASSERT_FALSE(state->gaps.empty()) << "the sequence tracker reports the dropped messages";
    EXPECT_EQ(state->tracker.missing(), st.dropped) << "every drop shows up in some gap";
    EXPECT_EQ(state->tracker.duplicates(), 0u);
    for (const auto& g : state->gaps) {
      EXPECT_EQ(g.publisher, pub->id());
      EXPECT_LE(g.first_missing, g.last_missing);
    }
  }
  ASSERT_TRUE(fast->wait_for_size(burst + 1, 5s))
    << "a subscriber with room in its queue is not affected by a slow one";
  this->subscriber_side().unsubscribe(*slow);
}

TYPED_TEST_P(events_contract, invalid_subjects_and_patterns_are_rejected) {
  auto pub = this->publisher_side().make_publisher("p-" + unique_token());
  for (const char* bad : {"", ".", "a..b", "a.", ".a", "a.*", "a.>", "a b", "a*", "a.b>"}) {
    auto seq = pub->publish(bad, "x");
    ASSERT_FALSE(seq) << "subject '" << bad << "' was accepted";
    EXPECT_EQ(classify(seq.error()), errc::invalid_request) << bad;
  }
  auto first = pub->publish(this->subject("ok"), "x");
  ASSERT_TRUE(ok(first));
  EXPECT_EQ(*first, 1u) << "rejected publishes do not consume sequence numbers";
  auto noop = [](const event_message&) {};
  for (const char* bad : {"", "a..b", "a.>.b", ">.a", "a*", "a.b*", "a.>>"}) {
    auto sub = this->subscriber_side().subscribe(bad, noop);
    ASSERT_FALSE(sub) << "pattern '" << bad << "' was accepted";
    EXPECT_EQ(classify(sub.error()), errc::invalid_request) << bad;
  }
  auto no_cb = this->subscriber_side().subscribe(this->subject(">"), nullptr);
  ASSERT_FALSE(no_cb);
  EXPECT_EQ(classify(no_cb.error()), errc::invalid_request);
  auto no_room
    = this->subscriber_side().subscribe(this->subject(">"), noop, subscription_options{0});
  ASSERT_FALSE(no_room);
  EXPECT_EQ(classify(no_room.error()), errc::invalid_request);
}

TYPED_TEST_P(events_contract, messages_carry_the_publisher_id) {
  auto rec = this->must_subscribe(this->subject(">"));
  auto named = this->publisher_side().make_publisher("router-" + unique_token());
  auto anon1 = this->publisher_side().make_publisher("");
  auto anon2 = this->publisher_side().make_publisher("");
  EXPECT_FALSE(anon1->id().empty()) << "an empty id is replaced by a generated one";
  EXPECT_NE(anon1->id(), anon2->id());
  this->must_publish(*named, this->subject("a"), "n");
  this->must_publish(*anon1, this->subject("a"), "1");
  ASSERT_TRUE(rec->wait_for_size(2, 2s));
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& m : rec->items())
    got.emplace(m.publisher, m.payload);
  EXPECT_TRUE(got.contains({named->id(), "n"}));
  EXPECT_TRUE(got.contains({anon1->id(), "1"}));
}

REGISTER_TYPED_TEST_SUITE_P(events_contract,
                            sequences_start_at_one_and_delivery_follows_publish_order,
                            star_matches_exactly_one_token,
                            greater_than_matches_one_or_more_tokens,
                            every_subscriber_gets_everything, unsubscribe_stops_delivery,
                            unsubscribe_waits_for_a_running_callback,
                            unsubscribe_from_inside_the_callback,
                            slow_subscriber_drops_are_counted_and_seen_as_a_gap,
                            invalid_subjects_and_patterns_are_rejected,
                            messages_carry_the_publisher_id);

} // namespace dynamo::testing::contract
