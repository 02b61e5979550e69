#include "dynamo/nats/discovery.hpp"

#include "dynamo/error.hpp"
#include "dynamo/nats/internal/record_codec.hpp"
#include "dynamo/testing/nats_server.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <nats/nats.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace dynamo::nats {
namespace {

using namespace std::chrono_literals;

discovery_options options_for(const testing::nats_server& server) {
  discovery_options opts;
  opts.connection.url = server.url();
  return opts;
}

discovery_record record(uint64_t instance) {
  return {component_id{"ns", "worker"}, instance_id{instance}, {{"endpoint", "generate"}}};
}

TEST(nats_discovery, unreachable_server_is_unavailable) {
  discovery_options opts;
  opts.connection.url = "nats://127.0.0.1:" + std::to_string(testing::free_port());
  opts.connection.timeout = 200ms;
  auto plane = make_discovery(opts);
  ASSERT_FALSE(plane);
  EXPECT_EQ(classify(plane.error()), errc::unavailable);
}

TEST(nats_discovery, invalid_options_are_rejected) {
  testing::nats_server server;
  auto opts = options_for(server);
  opts.bucket = "a.b";
  auto plane = make_discovery(opts);
  ASSERT_FALSE(plane);
  EXPECT_EQ(classify(plane.error()), errc::invalid_request);
  opts = options_for(server);
  opts.bucket_ttl = 1s;
  auto small = make_discovery(opts);
  ASSERT_TRUE(small) << describe(small.error());
  auto lease = (*small)->register_instance(record(1), {2s, true});
  ASSERT_FALSE(lease) << "a lease longer than the bucket's max age";
  EXPECT_EQ(classify(lease.error()), errc::invalid_request);
}

TEST(nats_discovery, destroying_the_owner_deregisters_at_once) {
  testing::nats_server server;
  auto observer = make_discovery(options_for(server));
  ASSERT_TRUE(observer) << describe(observer.error());
  {
    auto owner = make_discovery(options_for(server));
    ASSERT_TRUE(owner) << describe(owner.error());
    ASSERT_TRUE((*owner)->register_instance(record(1), {10s, true}));
    ASSERT_TRUE(testing::wait_until([&] { return (*observer)->list("ns/").size() == 1; }, 2s))
      << "the observer lists the record";
  }
  EXPECT_TRUE(testing::wait_until([&] { return (*observer)->list("ns/").empty(); }, 1s))
    << "a destroyed owner's records vanish before their 10 s ttl";
}

TEST(nats_discovery, records_survive_a_server_restart) {
  testing::nats_server server;
  auto owner = make_discovery(options_for(server));
  auto observer = make_discovery(options_for(server));
  ASSERT_TRUE(owner && observer);
  ASSERT_TRUE((*owner)->register_instance(record(1), {1s, true}));
  ASSERT_TRUE(testing::wait_until([&] { return (*observer)->list("ns/").size() == 1; }, 2s))
    << "the observer lists the record before the restart";
  server.restart();
  ASSERT_TRUE((*owner)->register_instance(record(2), {1s, true})
              || testing::wait_until(
                [&] { return static_cast<bool>((*owner)->register_instance(record(2), {1s, true})); },
                5s))
    << "registration works again after the restart";
  EXPECT_TRUE(testing::wait_until([&] { return (*observer)->list("ns/").size() == 2; }, 5s))
    << "the observer sees both records after the restart (watch resumed)";
  std::this_thread::sleep_for(1500ms); // longer than the ttl: heartbeats must keep both alive
  EXPECT_EQ((*observer)->list("ns/").size(), 2u);
}

// Puts `value` under `kv_key` in the default bucket through a raw client that then goes away
// without deleting it: what a SIGKILLed owner leaves behind.
void put_raw(const std::string& url, const std::string& kv_key, const std::string& value) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, url.c_str()), NATS_OK);
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  ASSERT_EQ(js_KeyValue(&kv, js, "dynamo_discovery"), NATS_OK);
  EXPECT_EQ(kvStore_Put(nullptr, kv, kv_key.c_str(), value.data(), static_cast<int>(value.size())),
            NATS_OK);
  kvStore_Destroy(kv);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

TEST(nats_discovery, watchers_expire_records_of_dead_owners_themselves) {
  testing::nats_server server;
  auto observer = make_discovery(options_for(server));
  ASSERT_TRUE(observer) << describe(observer.error());
  std::mutex mu;
  std::vector<discovery_event> seen;
  auto w = (*observer)->watch("ns/", [&mu, &seen](const discovery_event& ev) {
    std::lock_guard guard{mu};
    seen.push_back(ev);
  });
  ASSERT_TRUE(w);
  detail::stored_record dead{record(0xdead), 300ms, "gone-1", 1};
  auto start = std::chrono::steady_clock::now();
  put_raw(server.url(), "ns.worker.000000000000dead", detail::encode_record(dead));
  put_raw(server.url(), "ns.worker.000000000000beef", "{garbage");
  auto removed = [&mu, &seen] {
    std::lock_guard guard{mu};
    return seen.size() == 2 && seen[1].type == discovery_event::kind::removed;
  };
  ASSERT_TRUE(testing::wait_until(removed, 2s))
    << "a put, then a removal without any delete from the owner";
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LE(elapsed, 300ms + 250ms) << "removed within ttl + slack";
  EXPECT_EQ(seen[0].record, dead.record);
  EXPECT_TRUE((*observer)->list("ns/").empty()) << "the malformed record is never listed";
  (*observer)->unwatch(*w);
  auto late = make_discovery(options_for(server));
  ASSERT_TRUE(late);
  ASSERT_TRUE((*late)->register_instance(record(1), {1s, true}));
  // The bucket's old entries reach the new watcher before this registration does.
  ASSERT_TRUE(testing::wait_until([&late] { return !(*late)->list("ns/").empty(); }, 2s));
  auto listed = (*late)->list("ns/");
  ASSERT_EQ(listed.size(), 1u) << "a new watcher ignores the stale record";
  EXPECT_EQ(listed[0].instance, instance_id{1});
}

TEST(nats_server_fixture, restart_keeps_the_url) {
  testing::nats_server server;
  auto url = server.url();
  EXPECT_TRUE(url.starts_with("nats://127.0.0.1:")) << url;
  server.restart();
  EXPECT_EQ(server.url(), url);
  EXPECT_TRUE(server.running());
  server.stop();
  EXPECT_FALSE(server.running());
}

} // namespace
} // namespace dynamo::nats
