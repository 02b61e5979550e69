#include "dynamo/plane/registration.hpp"

#include "dynamo/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace dynamo {
namespace {

using metadata = std::map<std::string, std::string>;
using ::testing::HasSubstr;

instance_registration full_registration() {
  instance_registration reg;
  reg.endpoints = {{"generate", 1}, {"prefill", 3}};
  reg.rpc_address = "10.0.0.7:5555";
  reg.data_address = "ucx:0a1b2c";
  reg.capacity.model = "llama-3-8b";
  reg.capacity.kv_block_size = 16;
  reg.capacity.total_kv_blocks = 8192;
  reg.capacity.hash_scheme = "xxh3-64:seed=1337";
  reg.capacity.max_num_seqs = 256;
  reg.capacity.model_path = "/models/llama-3-8b";
  reg.extra = {{"interfaces", "worker,generate"}, {"engine", "mocker"}};
  return reg;
}

/// Decodes `m`, expecting invalid_request; returns the client message.
std::string rejection(const metadata& m) {
  auto reg = instance_registration::from_metadata(m);
  if (reg) {
    ADD_FAILURE() << "metadata was accepted but must be rejected";
    return {};
  }
  EXPECT_EQ(classify(reg.error()), errc::invalid_request);
  return client_message(reg.error());
}

TEST(registration, writes_the_documented_keys) {
  auto m = full_registration().to_metadata();
  EXPECT_EQ(m, (metadata{{"endpoints", "generate@1,prefill@3"},
                         {"rpc_address", "10.0.0.7:5555"},
                         {"data_address", "ucx:0a1b2c"},
                         {"model", "llama-3-8b"},
                         {"kv_block_size", "16"},
                         {"total_kv_blocks", "8192"},
                         {"hash_scheme", "xxh3-64:seed=1337"},
                         {"max_num_seqs", "256"},
                         {"model_path", "/models/llama-3-8b"},
                         {"interfaces", "worker,generate"},
                         {"engine", "mocker"}}));
}

TEST(registration, round_trips_through_metadata) {
  auto reg = full_registration();
  auto back = instance_registration::from_metadata(reg.to_metadata());
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(*back, reg);
}

TEST(registration, absent_fields_are_not_written_and_read_back_absent) {
  instance_registration reg;
  reg.endpoints = {{"generate", 2}};
  auto m = reg.to_metadata();
  EXPECT_EQ(m, (metadata{{"endpoints", "generate@2"}}));
  auto back = instance_registration::from_metadata(m);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->capacity.model);
  EXPECT_FALSE(back->capacity.kv_block_size);
  EXPECT_TRUE(back->rpc_address.empty());
  EXPECT_EQ(instance_registration{}.to_metadata(), metadata{});
}

TEST(registration, reads_what_older_writers_publish) {
  // Bare endpoint names (version 1) and the keys workers published before the typed struct.
  auto reg = instance_registration::from_metadata({{"endpoints", "generate"},
                                                   {"interfaces", "worker,generate"},
                                                   {"model", "m"},
                                                   {"kv_block_size", "16"},
                                                   {"total_kv_blocks", "0"},
                                                   {"http_address", "127.0.0.1:8000"}});
  ASSERT_TRUE(reg) << describe(reg.error());
  EXPECT_EQ(reg->endpoints, (std::map<std::string, uint32_t>{{"generate", 1}}));
  EXPECT_EQ(reg->capacity.model, "m");
  EXPECT_EQ(reg->capacity.kv_block_size, 16u);
  EXPECT_EQ(reg->capacity.total_kv_blocks, 0u);
  EXPECT_EQ(reg->extra, (metadata{{"interfaces", "worker,generate"},
                                  {"http_address", "127.0.0.1:8000"}}));
}

TEST(registration, an_empty_endpoint_list_means_none) {
  auto reg = instance_registration::from_metadata({{"endpoints", ""}});
  ASSERT_TRUE(reg);
  EXPECT_TRUE(reg->endpoints.empty());
}

TEST(registration, malformed_numbers_are_rejected_naming_the_key) {
  for (const char* bad : {"", "abc", "-1", "+16", "016", "1.5", "16 ", " 16", "0x10",
                          "4294967296"})
    EXPECT_THAT(rejection({{"kv_block_size", bad}}), HasSubstr("'kv_block_size'")) << bad;
  EXPECT_THAT(rejection({{"kv_block_size", "0"}}), HasSubstr("at least 1"));
  EXPECT_THAT(rejection({{"max_num_seqs", "0"}}), HasSubstr("'max_num_seqs'"));
  EXPECT_THAT(rejection({{"total_kv_blocks", "18446744073709551616"}}),
              HasSubstr("'total_kv_blocks'"));
  auto max = instance_registration::from_metadata({{"total_kv_blocks", "18446744073709551615"}});
  ASSERT_TRUE(max);
  EXPECT_EQ(max->capacity.total_kv_blocks, UINT64_MAX);
}

TEST(registration, malformed_endpoints_and_versions_are_rejected) {
  for (const char* bad : {"generate@0", "generate@", "generate@x", "generate@-1", "generate@01",
                          "generate@4294967296", "@1", ",generate", "generate,", "a,,b",
                          "gen erate", "a.b@1", "generate,generate@2"})
    EXPECT_THAT(rejection({{"endpoints", bad}}), HasSubstr("'endpoints'")) << bad;
  EXPECT_THAT(rejection({{"endpoints", "generate@0"}}), HasSubstr("interface version"));
  EXPECT_THAT(rejection({{"endpoints", "a,a@1"}}), HasSubstr("twice"));
}

TEST(registration, rpc_address_must_be_host_and_port) {
  for (const char* good : {"127.0.0.1:1", "node-3.cluster:65535", "[::1]:5000"}) {
    auto reg = instance_registration::from_metadata({{"rpc_address", good}});
    ASSERT_TRUE(reg) << good;
    EXPECT_EQ(reg->rpc_address, good);
  }
  for (const char* bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:+80",
                          "ho st:80", "::1:80", "[::1:80", "[]:80", "host:80\n"})
    EXPECT_THAT(rejection({{"rpc_address", bad}}), HasSubstr("'rpc_address'")) << bad;
}

TEST(registration, empty_values_of_typed_keys_and_empty_keys_are_rejected) {
  for (const char* key : {"model", "hash_scheme", "data_address", "rpc_address", "model_path"})
    EXPECT_THAT(rejection({{key, ""}}), HasSubstr(key));
  EXPECT_THAT(rejection({{"", "x"}}), HasSubstr("empty"));
}

TEST(registration, long_values_are_truncated_in_messages) {
  auto msg = rejection({{"kv_block_size", std::string(10000, '9')}});
  EXPECT_LT(msg.size(), 300u);
  EXPECT_THAT(msg, HasSubstr("10000 bytes"));
}

TEST(registration, typed_fields_win_over_reserved_extra_keys) {
  instance_registration reg;
  reg.capacity.model = "typed";
  reg.extra = {{"model", "extra"}, {"rpc_address", "x:1"}, {"", "empty"}, {"engine", "e"}};
  EXPECT_EQ(reg.to_metadata(), (metadata{{"model", "typed"}, {"engine", "e"}}));
}

TEST(registration, reserved_keys_are_exactly_the_typed_ones) {
  for (const char* key : {"endpoints", "rpc_address", "data_address", "model", "kv_block_size",
                          "total_kv_blocks", "hash_scheme", "max_num_seqs", "model_path"})
    EXPECT_TRUE(is_reserved_registration_key(key)) << key;
  for (const char* key : {"interfaces", "engine", "http_address", "", "Model"})
    EXPECT_FALSE(is_reserved_registration_key(key)) << key;
}

} // namespace
} // namespace dynamo
