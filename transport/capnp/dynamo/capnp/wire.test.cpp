#include "dynamo/capnp/wire.hpp"

#include "dynamo/capnp/detail/relay.hpp"
#include "dynamo/error.hpp"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <string>

namespace dynamo::capnp {
namespace {

TEST(capnp_wire, errors_keep_class_message_and_detail) {
  ::capnp::MallocMessageBuilder message;
  auto root = message.initRoot<rpc::Error>();
  encode_error(make_error(errc::not_found, "no such model", "model 'x' not in registry"), root);
  auto back = decode_error(root.asReader());
  EXPECT_EQ(classify(back), errc::not_found);
  EXPECT_EQ(client_message(back), "no such model");
  EXPECT_EQ(operator_detail(back), "model 'x' not in registry");
}

TEST(capnp_wire, unknown_and_zero_codes_decode_as_internal) {
  ::capnp::MallocMessageBuilder message;
  auto root = message.initRoot<rpc::Error>();
  root.setCode(200);
  EXPECT_EQ(classify(decode_error(root.asReader())), errc::internal);
  root.setCode(0);
  EXPECT_EQ(classify(decode_error(root.asReader())), errc::internal);
}

TEST(capnp_wire, kj_exceptions_are_classified) {
  auto make = [](kj::Exception::Type type) {
    return kj::Exception{type, __FILE__, __LINE__, kj::str("boom")};
  };
  EXPECT_EQ(classify(error_from_exception(make(kj::Exception::Type::DISCONNECTED), "x")),
            errc::disconnected);
  EXPECT_EQ(classify(error_from_exception(make(kj::Exception::Type::OVERLOADED), "x")),
            errc::overloaded);
  EXPECT_EQ(classify(error_from_exception(make(kj::Exception::Type::UNIMPLEMENTED), "x")),
            errc::invalid_request);
  EXPECT_EQ(classify(error_from_exception(make(kj::Exception::Type::FAILED), "x")),
            errc::internal);
}

TEST(capnp_wire, a_decoder_that_throws_yields_invalid_request) {
  auto r = decode_guarded("thing", []() -> caf::expected<int> {
    kj::throwFatalException(KJ_EXCEPTION(FAILED, "malformed pointer"));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::invalid_request);
  auto long_text = read_text(::capnp::Text::Reader{"abcdef"}, 3, "name");
  ASSERT_FALSE(long_text);
  EXPECT_EQ(classify(long_text.error()), errc::invalid_request);
}

TEST(capnp_relay_queue, merges_pending_items_and_bounds_the_rest) {
  detail::relay_queue<std::string> merging{2, [](std::string& a, std::string& b) {
                                             a += b;
                                             return true;
                                           }};
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(merging.push("x"));
  std::optional<std::string> item;
  std::optional<caf::error> ending;
  ASSERT_TRUE(merging.take(item, ending));
  EXPECT_EQ(item, std::string(100, 'x')) << "pending items coalesce into one";

  detail::relay_queue<std::string> bounded{2, nullptr};
  EXPECT_TRUE(bounded.push("a"));
  EXPECT_TRUE(bounded.push("b"));
  EXPECT_FALSE(bounded.push("c")) << "a full queue refuses the item";
  bounded.close(make_error(errc::overloaded, "slow"));
  std::vector<std::string> taken;
  for (;;) {
    item.reset();
    ending.reset();
    ASSERT_TRUE(bounded.take(item, ending));
    if (ending)
      break;
    taken.push_back(*item);
  }
  EXPECT_EQ(taken, (std::vector<std::string>{"a", "b"})) << "queued items precede the ending";
  EXPECT_EQ(classify(*ending), errc::overloaded);
}

} // namespace
} // namespace dynamo::capnp
