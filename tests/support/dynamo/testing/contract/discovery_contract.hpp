// The discovery-plane contract: what every discovery backend must guarantee. A backend's test
// executable instantiates it with a traits type:
//
//   struct my_traits {
//     // A plane connected to the backend (fresh or shared: tests scope their names).
//     static std::unique_ptr<dynamo::discovery_plane> make();
//     // How much later than its ttl an expired lease may be reported.
//     static std::chrono::milliseconds expiry_slack();
//     // Optional: a second client of the same backend; watches and lists then run on it.
//     static std::unique_ptr<dynamo::discovery_plane> make_peer(dynamo::discovery_plane&);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my_backend, discovery_contract, ::testing::Types<my_traits>);
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/testing/contract/common.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>

namespace dynamo::testing::contract {

template <class Traits>
class discovery_contract : public ::testing::Test {
protected:
  using events = recorder<discovery_event>;

  static constexpr auto short_ttl = 300ms;

  void SetUp() override {
    plane_ = Traits::make();
    ASSERT_NE(plane_, nullptr);
    if constexpr (requires { Traits::make_peer(*plane_); }) {
      peer_ = Traits::make_peer(*plane_);
      ASSERT_NE(peer_, nullptr);
    }
    ns_ = "ct-" + unique_token();
  }

  void TearDown() override {
    peer_.reset();
    plane_.reset();
  }

  /// Where records are registered.
  discovery_plane& owner() {
    return *plane_;
  }

  /// Where records are watched and listed.
  discovery_plane& observer() {
    return peer_ ? *peer_ : *plane_;
  }

  /// The namespace of this test (unique per test run).
  const std::string& ns() const {
    return ns_;
  }

  discovery_record record(std::string component, uint64_t instance,
                          std::map<std::string, std::string> metadata = {{"endpoint", "gen"}}) {
    return discovery_record{component_id{ns_, std::move(component)}, instance_id{instance},
                            std::move(metadata)};
  }

  /// Registers and asserts success; returns the lease.
  lease_id must_register(const discovery_record& rec, lease_options opts = {}) {
    auto lease = owner().register_instance(rec, opts);
    EXPECT_TRUE(lease) << "register_instance(" << rec.key() << ") failed: "
                       << (lease ? "" : describe(lease.error()));
    return lease ? *lease : 0;
  }

  /// Starts a watch recording into a new recorder.
  std::shared_ptr<events> must_watch(std::string prefix, watch_id* id = nullptr) {
    auto rec = std::make_shared<events>();
    auto w = observer().watch(std::move(prefix), rec->callback());
    EXPECT_TRUE(w) << "watch failed: " << (w ? "" : describe(w.error()));
    if (w && id != nullptr)
      *id = *w;
    return rec;
  }

  /// Index of the first event of `type` for `key`, waiting up to `timeout`; -1 if none.
  static long wait_event(const events& rec, discovery_event::kind type, const std::string& key,
                         std::chrono::milliseconds timeout = 2s) {
    return rec.wait_for_match(
      [type, &key](const discovery_event& ev) {
        return ev.type == type && ev.record.key() == key;
      },
      timeout);
  }

  static size_t count_events(const events& rec, discovery_event::kind type,
                             const std::string& key) {
    size_t n = 0;
    for (const auto& ev : rec.items())
      n += ev.type == type && ev.record.key() == key ? 1 : 0;
    return n;
  }

  bool listed(const std::string& key) {
    for (const auto& r : observer().list(ns_ + "/"))
      if (r.key() == key)
        return true;
    return false;
  }

  std::unique_ptr<discovery_plane> plane_;
  std::unique_ptr<discovery_plane> peer_;
  std::string ns_;
};

TYPED_TEST_SUITE_P(discovery_contract);

TYPED_TEST_P(discovery_contract, record_key_has_namespace_component_and_instance_hex) {
  auto rec = this->record("worker", 0xabc);
  EXPECT_EQ(rec.key(), this->ns() + "/worker/0000000000000abc");
}

TYPED_TEST_P(discovery_contract, registered_record_is_listed_and_watched) {
  auto first = this->record("worker", 1, {{"endpoint", "generate"}, {"address", "a:1"}});
  this->must_register(first);
  DYNAMO_EXPECT_EVENTUALLY(this->listed(first.key()), 2000ms, "the registered record is listed");
  auto listed = this->observer().list(this->ns() + "/worker/");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], first);

  auto rec = this->must_watch(this->ns() + "/");
  auto snap = this->wait_event(*rec, discovery_event::kind::put, first.key());
  ASSERT_GE(snap, 0) << "a new watch starts with a put per existing record";
  EXPECT_EQ(rec->items()[snap].record, first);

  auto second = this->record("worker", 2);
  this->must_register(second);
  auto later = this->wait_event(*rec, discovery_event::kind::put, second.key());
  ASSERT_GE(later, 0) << "a registration after the watch started is seen as put";
  EXPECT_GT(later, snap) << "the snapshot comes before later changes";
  EXPECT_EQ(rec->items()[later].record, second);
}

TYPED_TEST_P(discovery_contract, update_is_seen_as_put_with_new_metadata) {
  auto rec = this->record("worker", 7, {{"load", "0"}});
  auto lease = this->must_register(rec);
  auto events = this->must_watch(this->ns() + "/worker/");
  ASSERT_GE(this->wait_event(*events, discovery_event::kind::put, rec.key()), 0);
  ASSERT_TRUE(ok(this->owner().update(lease, {{"load", "5"}})));
  auto idx = events->wait_for_match(
    [](const discovery_event& ev) {
      return ev.type == discovery_event::kind::put && ev.record.metadata.contains("load")
             && ev.record.metadata.at("load") == "5";
    },
    2s);
  ASSERT_GE(idx, 0) << "update() reaches watchers as a put carrying the new metadata";
  auto updated = [this, &rec] {
    auto l = this->observer().list(rec.key());
    return l.size() == 1 && l[0].metadata.size() == 1 && l[0].metadata.at("load") == "5";
  };
  DYNAMO_EXPECT_EVENTUALLY(updated(), 2000ms, "list() shows the updated metadata");
  EXPECT_EQ(classify(this->owner().update(lease, {{"", "x"}})), errc::invalid_request);
}

TYPED_TEST_P(discovery_contract, revoke_is_seen_as_removed_at_once) {
  auto rec = this->record("worker", 3);
  auto lease = this->must_register(rec, {10s, false});
  auto events = this->must_watch(this->ns() + "/");
  ASSERT_GE(this->wait_event(*events, discovery_event::kind::put, rec.key()), 0);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(ok(this->owner().revoke(lease)));
  auto idx = this->wait_event(*events, discovery_event::kind::removed, rec.key(), 2s);
  ASSERT_GE(idx, 0) << "revoke() reaches watchers as removed";
  EXPECT_LT(events->time_of(idx) - start, 1s) << "removal is seen at once, not after the ttl";
  EXPECT_EQ(events->items()[idx].record.key(), rec.key());
  EXPECT_FALSE(this->listed(rec.key()));
  EXPECT_EQ(classify(this->owner().revoke(lease)), errc::not_found);
  EXPECT_EQ(classify(this->owner().keep_alive(lease)), errc::not_found);
  EXPECT_EQ(classify(this->owner().update(lease, {})), errc::not_found);
}

TYPED_TEST_P(discovery_contract, lease_without_keep_alive_expires_within_ttl_plus_slack) {
  auto rec = this->record("worker", 4);
  auto events = this->must_watch(this->ns() + "/");
  auto start = std::chrono::steady_clock::now();
  this->must_register(rec, {this->short_ttl, false});
  auto slack = TypeParam::expiry_slack();
  auto idx = this->wait_event(*events, discovery_event::kind::removed, rec.key(),
                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                this->short_ttl + slack + 2s));
  ASSERT_GE(idx, 0) << "an expired lease is reported to watchers as removed";
  auto seen_after = events->time_of(idx) - start;
  EXPECT_GE(seen_after, this->short_ttl) << "a lease must not expire before its ttl";
  EXPECT_LE(seen_after, this->short_ttl + slack) << "expiry must be seen within ttl + slack";
  EXPECT_FALSE(this->listed(rec.key()));
}

TYPED_TEST_P(discovery_contract, keep_alive_keeps_lease_past_twice_ttl) {
  auto rec = this->record("worker", 5);
  auto events = this->must_watch(this->ns() + "/");
  auto lease = this->must_register(rec, {this->short_ttl, false});
  auto until = std::chrono::steady_clock::now() + 3 * this->short_ttl;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(ok(this->owner().keep_alive(lease))) << "keep_alive on a live lease succeeds";
    std::this_thread::sleep_for(this->short_ttl / 4); // the keep-alive period under test
  }
  EXPECT_TRUE(this->listed(rec.key())) << "a kept-alive record stays registered";
  EXPECT_EQ(this->count_events(*events, discovery_event::kind::removed, rec.key()), 0u);
  // Once the owner stops, the lease expires.
  EXPECT_GE(this->wait_event(*events, discovery_event::kind::removed, rec.key(),
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                               this->short_ttl + TypeParam::expiry_slack() + 2s)),
            0)
    << "the record expires once keep-alives stop";
}

TYPED_TEST_P(discovery_contract, auto_keep_alive_keeps_lease) {
  auto rec = this->record("worker", 6);
  auto events = this->must_watch(this->ns() + "/");
  auto lease = this->must_register(rec, {this->short_ttl, true});
  // Nothing is supposed to happen: observe for several ttls.
  std::this_thread::sleep_for(3 * this->short_ttl);
  EXPECT_TRUE(this->listed(rec.key())) << "the backend keeps an auto lease alive";
  EXPECT_EQ(this->count_events(*events, discovery_event::kind::removed, rec.key()), 0u);
  EXPECT_TRUE(ok(this->owner().keep_alive(lease))) << "keep_alive on an auto lease is harmless";
  EXPECT_TRUE(ok(this->owner().revoke(lease)));
  EXPECT_GE(this->wait_event(*events, discovery_event::kind::removed, rec.key()), 0);
}

TYPED_TEST_P(discovery_contract, keep_alive_after_expiry_is_not_found) {
  auto rec = this->record("worker", 8);
  auto events = this->must_watch(this->ns() + "/");
  auto lease = this->must_register(rec, {this->short_ttl, false});
  ASSERT_GE(this->wait_event(*events, discovery_event::kind::removed, rec.key(),
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                               this->short_ttl + TypeParam::expiry_slack() + 2s)),
            0);
  EXPECT_EQ(classify(this->owner().keep_alive(lease)), errc::not_found);
  EXPECT_EQ(classify(this->owner().update(lease, {})), errc::not_found);
  EXPECT_EQ(classify(this->owner().revoke(lease)), errc::not_found);
  EXPECT_EQ(classify(this->owner().keep_alive(lease + 1000)), errc::not_found)
    << "a lease that never existed is not found either";
}

TYPED_TEST_P(discovery_contract, prefixes_filter_lists_and_watches) {
  auto a = this->record("comp", 1);
  auto b = this->record("comp2", 2);
  auto events = this->must_watch(this->ns() + "/comp/");
  auto all = this->must_watch(this->ns() + "/");
  this->must_register(a);
  this->must_register(b);
  ASSERT_GE(this->wait_event(*all, discovery_event::kind::put, b.key()), 0);
  ASSERT_GE(this->wait_event(*events, discovery_event::kind::put, a.key()), 0);
  DYNAMO_EXPECT_EVENTUALLY(this->observer().list(this->ns() + "/").size() == 2, 2000ms,
                           "both records listed under the namespace");
  auto comp = this->observer().list(this->ns() + "/comp/");
  ASSERT_EQ(comp.size(), 1u) << "'ns/comp/' must not match 'ns/comp2/...'";
  EXPECT_EQ(comp[0].key(), a.key());
  EXPECT_EQ(this->observer().list(this->ns() + "x/").size(), 0u);
  // `all` saw b after a, so an event for b on `events` would have arrived by now.
  EXPECT_EQ(this->count_events(*events, discovery_event::kind::put, b.key()), 0u)
    << "a watch only sees keys under its prefix";
  for (const auto& ev : events->items())
    EXPECT_TRUE(ev.record.key().starts_with(this->ns() + "/comp/")) << ev.record.key();
}

TYPED_TEST_P(discovery_contract, unwatch_stops_callbacks) {
  watch_id id = 0;
  auto events = this->must_watch(this->ns() + "/", &id);
  auto first = this->record("worker", 1);
  this->must_register(first);
  ASSERT_GE(this->wait_event(*events, discovery_event::kind::put, first.key()), 0);
  this->observer().unwatch(id);
  auto seen = events->size();
  auto canary = this->must_watch(this->ns() + "/");
  auto second = this->record("worker", 2);
  this->must_register(second);
  ASSERT_GE(this->wait_event(*canary, discovery_event::kind::put, second.key()), 0);
  EXPECT_EQ(events->size(), seen) << "no callback after unwatch() returned";
  this->observer().unwatch(id); // unknown by now: a no-op
}

TYPED_TEST_P(discovery_contract, unwatch_waits_for_a_running_callback) {
  auto in_callback = std::make_shared<gate>();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto w = this->observer().watch(this->ns() + "/",
                                  [in_callback, done, calls](const discovery_event&) {
                                    ++*calls;
                                    in_callback->pass();
                                    *done = true;
                                  });
  ASSERT_TRUE(w);
  this->must_register(this->record("worker", 1));
  ASSERT_TRUE(in_callback->wait_for_waiter(2s)) << "the callback starts";
  std::thread opener{[in_callback] {
    std::this_thread::sleep_for(100ms); // keep the callback busy while unwatch() runs
    in_callback->open();
  }};
  this->observer().unwatch(*w);
  EXPECT_TRUE(*done) << "unwatch() returned while a callback was still running";
  opener.join();
  this->must_register(this->record("worker", 2));
  auto canary = this->must_watch(this->ns() + "/");
  ASSERT_TRUE(canary->wait_for_size(2, 2s));
  EXPECT_EQ(*calls, 1);
}

TYPED_TEST_P(discovery_contract, unwatch_from_inside_the_callback) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto id = std::make_shared<std::atomic<watch_id>>(0);
  auto* obs = &this->observer();
  auto w = obs->watch(this->ns() + "/", [obs, calls, id](const discovery_event&) {
    ++*calls;
    obs->unwatch(*id);
  });
  ASSERT_TRUE(w);
  *id = *w; // no record exists yet, so no callback can run before this
  for (uint64_t i = 1; i <= 5; ++i)
    this->must_register(this->record("worker", i));
  auto canary = this->must_watch(this->ns() + "/");
  ASSERT_TRUE(canary->wait_for_size(5, 2s));
  EXPECT_EQ(*calls, 1) << "no callback runs after the one that called unwatch()";
}

TYPED_TEST_P(discovery_contract, many_instances_of_one_component_are_listed) {
  constexpr uint64_t n = 50;
  std::vector<lease_id> leases;
  for (uint64_t i = 1; i <= n; ++i)
    leases.push_back(this->must_register(this->record("worker", i * 0x1001)));
  DYNAMO_EXPECT_EVENTUALLY(this->observer().list(this->ns() + "/worker/").size() == n, 2000ms,
                           n << " instances listed");
  auto listed = this->observer().list(this->ns() + "/worker/");
  std::set<uint64_t> instances;
  for (size_t i = 0; i < listed.size(); ++i) {
    instances.insert(listed[i].instance.value);
    if (i > 0) {
      EXPECT_LT(listed[i - 1].key(), listed[i].key()) << "list() is sorted by key";
    }
  }
  EXPECT_EQ(instances.size(), n);
  auto events = this->must_watch(this->ns() + "/worker/");
  ASSERT_TRUE(events->wait_for_size(n, 2s)) << "the watch snapshot holds every instance";
  for (auto lease : leases)
    ASSERT_TRUE(ok(this->owner().revoke(lease)));
  ASSERT_TRUE(events->wait_for_size(2 * n, 2s)) << "every revoke is seen";
  EXPECT_TRUE(this->observer().list(this->ns() + "/worker/").empty());
}

TYPED_TEST_P(discovery_contract, invalid_registrations_are_rejected) {
  auto check = [this](discovery_record rec, lease_options opts, const char* what) {
    auto lease = this->owner().register_instance(std::move(rec), opts);
    ASSERT_FALSE(lease) << what << " was accepted";
    EXPECT_EQ(classify(lease.error()), errc::invalid_request) << what;
  };
  auto good = this->record("worker", 1);
  auto bad_ns = good;
  bad_ns.component.ns = "";
  check(bad_ns, {}, "an empty namespace");
  auto bad_comp = good;
  bad_comp.component.component = "a/b";
  check(bad_comp, {}, "a component name with '/'");
  auto spaced = good;
  spaced.component.component = "a b";
  check(spaced, {}, "a component name with a space");
  auto zero = good;
  zero.instance = instance_id{0};
  check(zero, {}, "instance 0");
  auto bad_meta = good;
  bad_meta.metadata[""] = "x";
  check(bad_meta, {}, "an empty metadata key");
  check(good, {50ms, true}, "a ttl below 100 ms");
  EXPECT_TRUE(this->observer().list(this->ns() + "/").empty());
  EXPECT_FALSE(this->observer().watch(this->ns() + "/", nullptr)) << "a watch without callback";
}

TYPED_TEST_P(discovery_contract, registering_a_key_again_replaces_the_record) {
  auto rec = this->record("worker", 9, {{"v", "1"}});
  auto events = this->must_watch(this->ns() + "/");
  auto old_lease = this->must_register(rec, {10s, false});
  rec.metadata = {{"v", "2"}};
  auto new_lease = this->must_register(rec, {10s, false});
  EXPECT_NE(old_lease, new_lease);
  ASSERT_TRUE(events->wait_for_size(2, 2s));
  auto items = events->items();
  EXPECT_EQ(items[1].type, discovery_event::kind::put);
  EXPECT_EQ(items[1].record.metadata.at("v"), "2");
  auto listed = this->observer().list(rec.key());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].metadata.at("v"), "2");
  EXPECT_EQ(classify(this->owner().keep_alive(old_lease)), errc::not_found)
    << "the replaced lease is gone";
  EXPECT_TRUE(ok(this->owner().revoke(new_lease)));
  EXPECT_GE(this->wait_event(*events, discovery_event::kind::removed, rec.key()), 0);
}

REGISTER_TYPED_TEST_SUITE_P(discovery_contract,
                            record_key_has_namespace_component_and_instance_hex,
                            registered_record_is_listed_and_watched,
                            update_is_seen_as_put_with_new_metadata,
                            revoke_is_seen_as_removed_at_once,
                            lease_without_keep_alive_expires_within_ttl_plus_slack,
                            keep_alive_keeps_lease_past_twice_ttl, auto_keep_alive_keeps_lease,
                            keep_alive_after_expiry_is_not_found,
                            prefixes_filter_lists_and_watches, unwatch_stops_callbacks,
                            unwatch_waits_for_a_running_callback,
                            unwatch_from_inside_the_callback,
                            many_instances_of_one_component_are_listed,
                            invalid_registrations_are_rejected,
                            registering_a_key_again_replaces_the_record);

} // namespace dynamo::testing::contract
