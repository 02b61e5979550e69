#include "dynamo/error.hpp"

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace dynamo {
namespace {

constexpr std::array<errc, 9> all_codes = {
  errc::none,         errc::invalid_request, errc::not_found,
  errc::unavailable,  errc::overloaded,      errc::disconnected,
  errc::cancelled,    errc::deadline_exceeded, errc::internal,
};

constexpr std::array<std::string_view, 9> all_names = {
  "none",         "invalid_request", "not_found",
  "unavailable",  "overloaded",      "disconnected",
  "cancelled",    "deadline_exceeded", "internal",
};

TEST(error, names_are_stable_and_round_trip) {
  for (size_t i = 0; i < all_codes.size(); ++i) {
    SCOPED_TRACE(all_names[i]);
    EXPECT_EQ(static_cast<size_t>(all_codes[i]), i) << "wire values must not change";
    EXPECT_EQ(to_string(all_codes[i]), all_names[i]);
    EXPECT_EQ(errc_from_string(all_names[i]), all_codes[i]);
  }
}

TEST(error, unknown_names_and_values_map_to_internal) {
  EXPECT_EQ(errc_from_string(""), errc::internal);
  EXPECT_EQ(errc_from_string("bogus"), errc::internal);
  EXPECT_EQ(errc_from_string("NOT_FOUND"), errc::internal);
  EXPECT_EQ(errc_from_string("not_found "), errc::internal);
  EXPECT_EQ(to_string(static_cast<errc>(9)), "internal");
  EXPECT_EQ(to_string(static_cast<errc>(255)), "internal");
}

TEST(error, make_error_round_trips_every_class) {
  for (size_t i = 1; i < all_codes.size(); ++i) {
    auto code = all_codes[i];
    SCOPED_TRACE(to_string(code));
    auto err = make_error(code, "client text", "operator text");
    ASSERT_TRUE(err);
    EXPECT_EQ(err.category(), error_category);
    EXPECT_EQ(err.code(), static_cast<uint8_t>(code));
    EXPECT_EQ(classify(err), code);
    EXPECT_EQ(client_message(err), "client text");
    EXPECT_EQ(operator_detail(err), "operator text");
    EXPECT_EQ(describe(err), std::string{to_string(code)} + ": client text (operator text)");
  }
}

TEST(error, describe_omits_an_empty_detail) {
  auto err = make_error(errc::not_found, "no such model 'x'");
  EXPECT_EQ(operator_detail(err), "");
  EXPECT_EQ(describe(err), "not_found: no such model 'x'");
}

TEST(error, errc_none_is_no_error) {
  // CAF represents code 0 as "no error": make_error(errc::none, ...) must not look like a failure.
  auto err = make_error(errc::none, "ignored", "ignored too");
  EXPECT_FALSE(err);
  EXPECT_EQ(classify(err), errc::none);
  EXPECT_EQ(client_message(err), "");
  EXPECT_EQ(operator_detail(err), "");
}

TEST(error, empty_error_is_none_with_empty_messages) {
  caf::error err;
  EXPECT_EQ(classify(err), errc::none);
  EXPECT_EQ(client_message(err), "");
  EXPECT_EQ(operator_detail(err), "");
  EXPECT_EQ(describe(err).rfind("none", 0), 0u) << describe(err);
  caf::error from_none{caf::none};
  EXPECT_EQ(classify(from_none), errc::none);
}

TEST(error, caf_system_errors_are_classified) {
  auto timeout = caf::make_error(caf::sec::request_timeout);
  EXPECT_EQ(classify(timeout), errc::deadline_exceeded);
  EXPECT_EQ(client_message(timeout), "the request timed out");
  auto down = caf::make_error(caf::sec::request_receiver_down);
  EXPECT_EQ(classify(down), errc::disconnected);
  EXPECT_EQ(client_message(down), "a backend disconnected while serving the request");
  EXPECT_EQ(classify(caf::make_error(caf::sec::cannot_connect_to_node)), errc::disconnected);
  EXPECT_EQ(classify(caf::make_error(caf::sec::socket_disconnected)), errc::disconnected);
  EXPECT_EQ(classify(caf::make_error(caf::sec::invalid_argument)), errc::invalid_request);
  EXPECT_EQ(classify(caf::make_error(caf::sec::unexpected_message)), errc::internal);
  EXPECT_EQ(classify(caf::make_error(caf::exit_reason::kill)), errc::disconnected);
  EXPECT_EQ(classify(caf::make_error(caf::exit_reason::user_shutdown)), errc::disconnected);
}

TEST(error, foreign_error_detail_is_caf_rendering) {
  auto timeout = caf::make_error(caf::sec::request_timeout);
  auto detail = operator_detail(timeout);
  EXPECT_EQ(detail, caf::to_string(timeout));
  EXPECT_NE(detail.find("request_timeout"), std::string::npos) << detail;
  EXPECT_EQ(describe(timeout), "deadline_exceeded: the request timed out (" + detail + ")");
}

TEST(error, client_message_of_a_foreign_error_never_leaks_detail) {
  const std::string secret = "password=hunter2 at /srv/secret/path";
  std::array<caf::error, 4> foreign = {
    caf::make_error(caf::sec::invalid_argument, secret),
    caf::make_error(caf::sec::request_timeout, secret),
    caf::error{7, caf::atom("other"), caf::make_message(secret, secret)},
    // Our category, but a context that make_error did not build.
    caf::error{static_cast<uint8_t>(errc::not_found), error_category, caf::make_message(secret)},
  };
  for (const auto& err : foreign) {
    SCOPED_TRACE(caf::to_string(err));
    auto msg = client_message(err);
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("/srv"), std::string::npos) << msg;
    EXPECT_NE(operator_detail(err).find("hunter2"), std::string::npos)
      << "operators still see the detail";
  }
  EXPECT_EQ(client_message(foreign[0]), "internal error");
  EXPECT_EQ(classify(foreign[2]), errc::internal);
  EXPECT_EQ(classify(foreign[3]), errc::not_found);
}

TEST(error, out_of_range_code_in_our_category_is_internal) {
  caf::error err{200, error_category, caf::make_message(std::string{"c"}, std::string{"d"})};
  EXPECT_EQ(classify(err), errc::internal);
  EXPECT_EQ(client_message(err), "c");
}

TEST(error, detail_never_appears_in_client_message) {
  auto err = make_error(errc::unavailable, "no workers", "worker 0123 refused: ECONNREFUSED");
  EXPECT_EQ(client_message(err).find("ECONNREFUSED"), std::string::npos);
  EXPECT_NE(describe(err).find("ECONNREFUSED"), std::string::npos);
}

TEST(error, on_internal_error_aborts_with_its_message) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(on_internal_error("broken invariant xyz"), "internal error: broken invariant xyz");
}

} // namespace
} // namespace dynamo
