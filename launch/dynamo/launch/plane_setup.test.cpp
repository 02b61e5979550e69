#include "dynamo/launch/plane_setup.hpp"

#include "dynamo/error.hpp"
#include "dynamo/ids.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/inproc_discovery.hpp"

#include <gtest/gtest.h>

namespace dynamo::launch {
namespace {

instance_endpoint address_of(uint64_t instance) {
  return instance_endpoint{endpoint_id{"dynamo", "worker", "generate"}, instance_id{instance}};
}

lease_id register_worker(discovery_plane& disc, uint64_t instance,
                         std::map<std::string, std::string> metadata) {
  discovery_record rec;
  rec.component = component_id{"dynamo", "worker"};
  rec.instance = instance_id{instance};
  rec.metadata = std::move(metadata);
  auto lease = disc.register_instance(std::move(rec), lease_options{});
  EXPECT_TRUE(lease) << describe(lease.error());
  return lease ? *lease : 0;
}

TEST(plane_setup, resolve_reads_the_rpc_address_of_the_instance) {
  auto disc = make_inproc_discovery();
  register_worker(*disc, 7, {{"rpc_address", "10.0.0.7:7000"}});
  register_worker(*disc, 8, {{"rpc_address", "10.0.0.8:7000"}});
  auto found = resolve_rpc_address(*disc, address_of(8));
  ASSERT_TRUE(found) << describe(found.error());
  EXPECT_EQ(*found, "10.0.0.8:7000");
}

TEST(plane_setup, resolve_of_an_unknown_or_withdrawn_instance_is_not_found) {
  auto disc = make_inproc_discovery();
  auto lease = register_worker(*disc, 7, {{"rpc_address", "10.0.0.7:7000"}});
  EXPECT_EQ(classify(resolve_rpc_address(*disc, address_of(9)).error()), errc::not_found);
  ASSERT_FALSE(disc->revoke(lease));
  auto gone = resolve_rpc_address(*disc, address_of(7));
  ASSERT_FALSE(gone);
  EXPECT_EQ(classify(gone.error()), errc::not_found);
  EXPECT_NE(client_message(gone.error()).find("dynamo.worker.generate"), std::string::npos)
    << client_message(gone.error());
}

TEST(plane_setup, resolve_of_an_instance_without_rpc_address_is_not_found) {
  auto disc = make_inproc_discovery();
  register_worker(*disc, 7, {{"model", "m"}});
  auto r = resolve_rpc_address(*disc, address_of(7));
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::not_found);
  EXPECT_NE(operator_detail(r.error()).find("rpc_address"), std::string::npos)
    << operator_detail(r.error());
}

TEST(plane_setup, backends_need_bindings) {
  distributed_settings s;
  s.nats_url = "nats://127.0.0.1:1";
  auto r = make_distributed_backends(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::invalid_request);
}

TEST(plane_setup, default_bindings_serve_generate) {
  auto bindings = default_bindings();
  ASSERT_EQ(bindings.count("generate"), 1u);
  EXPECT_NE(bindings.at("generate"), nullptr);
  ASSERT_EQ(bindings.count("kv"), 1u) << "workers serve KV recovery queries over the wire";
  EXPECT_NE(bindings.at("kv"), nullptr);
}

} // namespace
} // namespace dynamo::launch
