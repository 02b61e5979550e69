#include "dynamo/ucx/internal/remote_key.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dynamo::ucx::internal {
namespace {

remote_key sample() {
  return {"decode/1", 42, 0x7f0000001000, 1 << 20, std::string("\0addr\xff", 6),
          std::string("rk\0ey", 5)};
}

TEST(remote_key, round_trips) {
  auto key = sample();
  auto back = unpack(pack(key));
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(*back, key);
}

TEST(remote_key, rejects_every_truncation_and_trailing_bytes) {
  auto bytes = pack(sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = unpack(std::string_view{bytes}.substr(0, n));
    ASSERT_FALSE(r) << "a key truncated to " << n << " bytes was accepted";
    EXPECT_EQ(classify(r.error()), errc::invalid_request);
  }
  auto r = unpack(bytes + "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::invalid_request);
}

TEST(remote_key, rejects_foreign_keys_and_empty_fields) {
  EXPECT_FALSE(unpack("0123456789abcdef")) << "an in-process access token";
  auto key = sample();
  key.rkey.clear();
  EXPECT_FALSE(unpack(pack(key)));
  key = sample();
  key.agent.clear();
  EXPECT_FALSE(unpack(pack(key)));
  key = sample();
  key.base = UINT64_MAX - 10;
  EXPECT_FALSE(unpack(pack(key))) << "a region wrapping the address space";
}

} // namespace
} // namespace dynamo::ucx::internal
