#include "dynamo/ids.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_set>

namespace dynamo {
namespace {

using namespace std::string_literals;

void expect_invalid_endpoint(std::string_view text) {
  auto parsed = endpoint_id::parse(text);
  ASSERT_FALSE(parsed) << "'" << text << "' must be rejected, got " << parsed->to_string();
  EXPECT_EQ(classify(parsed.error()), errc::invalid_request) << describe(parsed.error());
  EXPECT_NE(client_message(parsed.error()).find(std::string{text}), std::string::npos)
    << "the message names the input: " << client_message(parsed.error());
}

void expect_invalid_instance(std::string_view text) {
  auto parsed = instance_id::parse(text);
  ASSERT_FALSE(parsed) << "'" << text << "' must be rejected, got " << parsed->to_string();
  EXPECT_EQ(classify(parsed.error()), errc::invalid_request) << describe(parsed.error());
}

TEST(endpoint_id, parses_a_valid_endpoint) {
  auto parsed = endpoint_id::parse("dynamo.worker.generate");
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_EQ(parsed->ns, "dynamo");
  EXPECT_EQ(parsed->component, "worker");
  EXPECT_EQ(parsed->endpoint, "generate");
  EXPECT_EQ(parsed->owner(), (component_id{"dynamo", "worker"}));
}

TEST(endpoint_id, accepts_the_dyn_scheme_prefix) {
  auto parsed = endpoint_id::parse("dyn://ns-1.Comp_2.ep-3");
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_EQ(*parsed, (endpoint_id{"ns-1", "Comp_2", "ep-3"}));
  EXPECT_EQ(parsed->to_string(), "ns-1.Comp_2.ep-3");
}

TEST(endpoint_id, rejects_missing_parts) {
  expect_invalid_endpoint("");
  expect_invalid_endpoint("dyn://");
  expect_invalid_endpoint("ns");
  expect_invalid_endpoint("ns.component");
  expect_invalid_endpoint("dyn://ns.component");
}

TEST(endpoint_id, rejects_empty_parts) {
  expect_invalid_endpoint("..");
  expect_invalid_endpoint(".component.endpoint");
  expect_invalid_endpoint("ns..endpoint");
  expect_invalid_endpoint("ns.component.");
  expect_invalid_endpoint("dyn://.c.e");
}

TEST(endpoint_id, rejects_invalid_characters) {
  expect_invalid_endpoint("ns.comp onent.endpoint");
  expect_invalid_endpoint("ns.component.end/point");
  expect_invalid_endpoint("ns.component.endpoint.extra"); // a fourth part is not a name
  expect_invalid_endpoint("n@s.component.endpoint");
  expect_invalid_endpoint("ns.compon\xc3\xa9nt.endpoint");
  expect_invalid_endpoint("DYN://ns.component.endpoint"); // the scheme is lower-case only
  expect_invalid_endpoint("dyn:/ns.component.endpoint");
  expect_invalid_endpoint("dyn://dyn://ns.component.endpoint");
  expect_invalid_endpoint(" ns.component.endpoint");
  expect_invalid_endpoint("ns.component.endpoint\n");
  expect_invalid_endpoint(std::string_view{"ns.comp\0nent.ep", 15});
}

TEST(endpoint_id, to_string_round_trips) {
  for (const auto& text : {"a.b.c"s, "dynamo.frontend.http"s, "N-s.c_0.E-9"s}) {
    auto parsed = endpoint_id::parse(text);
    ASSERT_TRUE(parsed) << text << ": " << describe(parsed.error());
    EXPECT_EQ(parsed->to_string(), text);
    auto again = endpoint_id::parse("dyn://" + parsed->to_string());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *parsed);
  }
}

TEST(endpoint_id, renders_component_and_instance_endpoints) {
  endpoint_id ep{"ns", "worker", "generate"};
  EXPECT_EQ(ep.owner().to_string(), "ns.worker");
  instance_endpoint ie{ep, instance_id{0xabc}};
  EXPECT_EQ(ie.to_string(), "ns.worker.generate/0000000000000abc");
}

TEST(instance_id, renders_sixteen_lower_case_hex_digits) {
  EXPECT_EQ(instance_id{0}.to_string(), "0000000000000000");
  EXPECT_EQ(instance_id{1}.to_string(), "0000000000000001");
  EXPECT_EQ(instance_id{0xDEADBEEF}.to_string(), "00000000deadbeef");
  EXPECT_EQ(instance_id{~uint64_t{0}}.to_string(), "ffffffffffffffff");
}

TEST(instance_id, hex_round_trips) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0x0123456789abcdef},
                     uint64_t{0x8000000000000000}, ~uint64_t{0}}) {
    instance_id id{v};
    auto parsed = instance_id::parse(id.to_string());
    ASSERT_TRUE(parsed) << id.to_string() << ": " << describe(parsed.error());
    EXPECT_EQ(*parsed, id);
  }
}

TEST(instance_id, rejects_malformed_input) {
  expect_invalid_instance("");
  expect_invalid_instance("xyz");
  expect_invalid_instance("0123456789abcdefg");
  expect_invalid_instance("10000000000000000"); // 17 digits
  expect_invalid_instance("0x0123456789abcd");
  expect_invalid_instance("-1");
  expect_invalid_instance("+1");
  expect_invalid_instance(" 0123456789abcde");
  expect_invalid_instance("0123456789abcde ");
  expect_invalid_instance("01234567 9abcdef");
  expect_invalid_instance(std::string{"00000000"} + '\0' + "000000f");
}

TEST(instance_id, malformed_input_error_names_the_input) {
  auto parsed = instance_id::parse("not-hex");
  ASSERT_FALSE(parsed);
  EXPECT_NE(client_message(parsed.error()).find("not-hex"), std::string::npos)
    << client_message(parsed.error());
}

TEST(instance_id, orders_and_hashes_by_value) {
  EXPECT_LT(instance_id{1}, instance_id{2});
  EXPECT_EQ(instance_id{7}, instance_id{7});
  std::unordered_set<instance_id> ids{instance_id{1}, instance_id{2}, instance_id{1}};
  EXPECT_EQ(ids.size(), 2u);
}

TEST(make_instance_id, is_deterministic_per_seed) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{42}, ~uint64_t{0}})
    EXPECT_EQ(make_instance_id(seed), make_instance_id(seed)) << "seed " << seed;
}

TEST(make_instance_id, is_non_zero_and_spread_across_seeds) {
  std::set<uint64_t> seen;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    auto id = make_instance_id(seed);
    EXPECT_NE(id.value, 0u) << "seed " << seed;
    seen.insert(id.value);
  }
  EXPECT_EQ(seen.size(), 1000u) << "consecutive seeds must give distinct ids";
}

TEST(random_instance_id, is_non_zero_and_varies) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 16; ++i) {
    auto id = random_instance_id();
    EXPECT_NE(id.value, 0u);
    seen.insert(id.value);
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(is_valid_name, accepts_letters_digits_underscore_and_dash) {
  EXPECT_TRUE(is_valid_name("a"));
  EXPECT_TRUE(is_valid_name("0"));
  EXPECT_TRUE(is_valid_name("_"));
  EXPECT_TRUE(is_valid_name("-"));
  EXPECT_TRUE(is_valid_name("Worker_2-prefill"));
  EXPECT_TRUE(is_valid_name("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"));
}

TEST(is_valid_name, enforces_length_bounds) {
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_TRUE(is_valid_name(std::string(128, 'x')));
  EXPECT_FALSE(is_valid_name(std::string(129, 'x')));
}

TEST(is_valid_name, rejects_separators_and_other_characters) {
  for (const auto& bad : {"a.b"s, "a b"s, "a/b"s, "a:b"s, "a@b"s, "a\tb"s, "\xc3\xa9"s, "a+b"s,
                          "a\nb"s, std::string{"a\0b", 3}})
    EXPECT_FALSE(is_valid_name(bad)) << "'" << bad << "'";
}

} // namespace
} // namespace dynamo
