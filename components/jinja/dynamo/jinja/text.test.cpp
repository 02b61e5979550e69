#include "dynamo/jinja/text.hpp"

#include "dynamo/jinja/diagnostics.hpp"

#include <gtest/gtest.h>

namespace dynamo::jinja {
namespace {

TEST(jinja_text, float_repr_matches_python) {
  EXPECT_EQ(py_float_repr(1.0), "1.0");
  EXPECT_EQ(py_float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(py_float_repr(1e16), "1e+16");
  EXPECT_EQ(py_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(py_float_repr(1e-5), "1e-05");
  EXPECT_EQ(py_float_repr(0.0001), "0.0001");
  EXPECT_EQ(py_float_repr(-0.0), "-0.0");
  EXPECT_EQ(py_float_repr(123456.789), "123456.789");
  EXPECT_EQ(py_float_repr(1.5e300), "1.5e+300");
}

TEST(jinja_text, string_repr_picks_quotes_and_escapes_like_python) {
  EXPECT_EQ(py_string_repr("abc"), "'abc'");
  EXPECT_EQ(py_string_repr("it's"), "\"it's\"");
  EXPECT_EQ(py_string_repr("a'b\"c"), "'a\\'b\"c'");
  EXPECT_EQ(py_string_repr("tab\tnl\n\x01"), "'tab\\tnl\\n\\x01'");
  EXPECT_EQ(py_string_repr("é"), "'é'");
}

TEST(jinja_text, json_dumps_matches_python_separators_and_escapes) {
  auto data = json::parse(R"({"b": [1, 2.5, "é\"\n", null, true], "a": {}})");
  EXPECT_EQ(py_json_dumps(data, {}, 1000), R"({"b": [1, 2.5, "é\"\n", null, true], "a": {}})");
  dumps_options indented;
  indented.indent = "  ";
  indented.item_separator = ",";
  EXPECT_EQ(py_json_dumps(json::parse(R"({"a": [1, []]})"), indented, 1000),
            "{\n  \"a\": [\n    1,\n    []\n  ]\n}");
  dumps_options ascii;
  ascii.ensure_ascii = true;
  EXPECT_EQ(py_json_dumps(json("é😀"), ascii, 1000), R"("\u00e9\ud83d\ude00")");
  EXPECT_THROW(py_json_dumps(json(std::string(100, 'x')), {}, 10), template_error);
}

TEST(jinja_text, strip_split_and_case_follow_python) {
  EXPECT_EQ(py_strip("  a b \n", std::nullopt, strip_side::both), "a b");
  EXPECT_EQ(py_strip("xxaxx", std::string{"x"}, strip_side::left), "axx");
  EXPECT_EQ(py_strip("\u00a0a\u3000", std::nullopt, strip_side::both), "a");
  EXPECT_EQ(py_split(" a  b ", std::nullopt, -1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(py_split("a,,b", std::string{","}, -1), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(py_split("a b c", std::nullopt, 1), (std::vector<std::string>{"a", "b c"}));
  EXPECT_THROW(py_split("a", std::string{}, -1), template_error);
  EXPECT_EQ(py_upper("abc é"), "ABC É");
  EXPECT_EQ(py_lower("ÀB"), "àb");
  EXPECT_EQ(py_title("they're bill's"), "They'Re Bill'S");
  EXPECT_EQ(py_capitalize("hELLO wORLD"), "Hello world");
  EXPECT_EQ(code_point_count("héllo😀"), 6u);
  EXPECT_EQ(py_replace("aaa", "a", "b", 2, 100), "bba");
  EXPECT_EQ(py_replace("ab", "", "-", -1, 100), "-a-b-");
}

} // namespace
} // namespace dynamo::jinja
